"""The wrapper every adapter runs inside: concurrency, retries, timeouts, cache, accounting."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from dataclasses import dataclass
from typing import Protocol

from harness.adapters.base import Adapter, GenerationParams, Request, Response
from harness.errors import PermanentError, RetryableError


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter; a server's Retry-After is a floor, never ignored."""

    max_retries: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before attempt `attempt + 1` (attempt counts from 0)."""
        ceiling = min(self.max_delay, self.base_delay * 2**attempt)
        wait = ceiling / 2 + rng.uniform(0, ceiling / 2)
        return max(wait, retry_after or 0.0)


class ResponseCache(Protocol):
    """Where finished responses are kept by key (the store provides one)."""

    def get(self, key: str) -> Response | None: ...

    def put(self, key: str, response: Response) -> None: ...


@dataclass
class Accounting:
    """Running totals for one adapter over a run."""

    calls: int = 0
    retries: int = 0
    failures: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ManagedAdapter:
    """Adds to any provider what it should not have to write itself.

    `generate` never raises for a provider failure: after the last retry it returns a
    `Response` whose `error` says what went wrong, so one bad item never stops a run.
    """

    def __init__(
        self,
        adapter: Adapter,
        *,
        concurrency: int = 16,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        cache: ResponseCache | None = None,
        read_cache: bool = True,
        seed: int | None = None,
    ) -> None:
        self.adapter = adapter
        self.concurrency = max(1, min(concurrency, adapter.capabilities.max_concurrency))
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.cache = cache if adapter.capabilities.cacheable else None
        self.read_cache = read_cache
        self.accounting = Accounting()
        self._slots = asyncio.Semaphore(self.concurrency)
        self._rng = random.Random(seed)
        self._identity = json.dumps(adapter.describe(), sort_keys=True)
        self._prefixes: dict[GenerationParams, str] = {}

    def cache_key(self, request: Request) -> str:
        """Same adapter, model, params, prompt and sample index: same key."""
        prefix = self._prefixes.get(request.params)
        if prefix is None:  # a run has one or two params objects: encode each once
            prefix = json.dumps([self._identity, request.params.to_dict()], sort_keys=True)
            self._prefixes[request.params] = prefix
        parts: list[object] = [request.messages, request.sample]
        if request.response_format is not None or request.top_logprobs is not None:
            parts += [request.response_format, request.top_logprobs]
        payload = prefix + json.dumps(parts, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()

    async def generate(self, request: Request) -> Response:
        """One response for the request: from the cache, or from the provider with retries."""
        key = self.cache_key(request) if self.cache is not None else ""
        if self.cache is not None and self.read_cache:
            hit = self.cache.get(key)
            if hit is not None:
                self.accounting.cache_hits += 1
                return hit
        response = await self._call_with_retries(request)
        if response.error is None:
            self.accounting.prompt_tokens += response.prompt_tokens or 0
            self.accounting.completion_tokens += response.completion_tokens or 0
            if self.cache is not None:
                self.cache.put(key, response)
        else:
            self.accounting.failures += 1
        return response

    async def _call_with_retries(self, request: Request) -> Response:
        attempt = 0
        while True:
            retry_after: float | None = None
            async with self._slots:
                self.accounting.calls += 1
                started = time.perf_counter()
                try:
                    async with asyncio.timeout(self.timeout):  # no extra task, unlike wait_for
                        response = await self.adapter.generate(request)
                except RetryableError as exc:
                    error, retry_after = str(exc), exc.retry_after
                except TimeoutError:
                    error = f"timed out after {self.timeout:g}s"
                    if not self.adapter.capabilities.retry_timeouts:
                        return Response(
                            text=None,
                            error=f"{error} (not retried: a model on this machine would "
                            "only take as long again; raise the timeout)",
                            attempts=attempt + 1,
                        )
                except PermanentError as exc:
                    return Response(text=None, error=str(exc), attempts=attempt + 1)
                except Exception as exc:  # a provider bug must not stop the run
                    return Response(
                        text=None, error=f"{type(exc).__name__}: {exc}", attempts=attempt + 1
                    )
                else:
                    problem = _unfit(response)
                    if problem is not None:  # a provider bug must not break the store
                        return Response(text=None, error=problem, attempts=attempt + 1)
                    response.latency_ms = (time.perf_counter() - started) * 1000
                    response.attempts = attempt + 1
                    return response
            if attempt >= self.retry.max_retries:
                return Response(
                    text=None,
                    error=f"{error} (gave up after {attempt + 1} attempts)",
                    attempts=attempt + 1,
                )
            self.accounting.retries += 1
            await asyncio.sleep(self.retry.delay(attempt, retry_after, self._rng))
            attempt += 1


def _unfit(response: Response) -> str | None:
    """Why a provider's Response cannot be stored and counted (text that is not a string,
    a token count that is not a whole number), or None."""
    if response.text is not None and not isinstance(response.text, str):
        return f"the provider returned a {type(response.text).__name__} as the text"
    for name in ("prompt_tokens", "completion_tokens"):
        value = getattr(response, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            return f"the provider returned a {type(value).__name__} as {name}"
    return None
