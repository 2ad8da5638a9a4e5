"""Calling judges: any adapter, inside the managed wrapper, on a loop thread of its own.

Scorers run in a worker thread (the pipeline scores off its event loop), so the judge
adapters live on a persistent background event loop owned by `JudgeRunner`; calls are
submitted with `asyncio.run_coroutine_threadsafe` and the worker waits for the batch.
Every judge gets the harness's concurrency limit, retries with backoff, timeouts and a
cache (in the run database when one is given), like the model under evaluation.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from harness import registry
from harness.adapters.base import (
    Adapter,
    AdapterOptions,
    Capabilities,
    Request,
    Response,
    check_options,
    check_timeout,
)
from harness.adapters.managed import ManagedAdapter, RetryPolicy
from harness.errors import ConfigError
from harness.store.judgments import JudgeCache, MemoryCache

T = TypeVar("T")
_URL_MARKERS = ("@http://", "@https://")


@dataclass(frozen=True)
class JudgeSpec:
    """`openai:gpt-4o`, `local`, or `openai:MODEL@http://host:port/v1` (base URL)."""

    text: str
    adapter: str
    model: str
    base_url: str | None = None

    @classmethod
    def parse(cls, text: str) -> JudgeSpec:
        spec, base_url = text.strip(), None
        for marker in _URL_MARKERS:
            if marker in spec:
                spec, _, rest = spec.partition(marker)
                base_url = marker[1:] + rest
                break
        adapter, _, model = spec.partition(":")
        if not adapter:
            raise ConfigError(
                f"bad --judge '{text}': use NAME[:MODEL][@BASE_URL], e.g. openai:gpt-4o or local"
            )
        return cls(text.strip(), adapter, model, base_url)


@dataclass
class JudgeCall:
    """One request to one judge."""

    judge: str
    request: Request


@dataclass
class _Judge:
    spec: JudgeSpec
    adapter: Adapter
    managed: ManagedAdapter | None = None
    logprobs: bool = True
    started: bool = False
    notes: list[str] = field(default_factory=list)


class JudgeRunner:
    """Judge adapters started once, on a background event loop, for synchronous callers."""

    def __init__(
        self,
        specs: Sequence[str],
        *,
        concurrency: int = 16,
        timeout: float = 120.0,
        max_retries: int = 3,
        api_key_env: str = "OPENAI_API_KEY",
        adapter_options: dict[str, Any] | None = None,
        cache_path: str | Path | None = None,
        read_cache: bool = True,
    ) -> None:
        if not specs:
            raise ConfigError("name at least one judge: --judge openai:gpt-4o or --judge local")
        self.concurrency = concurrency
        check_timeout(timeout, "judge timeout")
        self.timeout = timeout
        self.retry = RetryPolicy(max_retries=max_retries)
        self.read_cache = read_cache
        self.cache: JudgeCache | MemoryCache = (
            JudgeCache(cache_path) if cache_path is not None else MemoryCache()
        )
        self._judges: dict[str, _Judge] = {}
        for text in specs:
            spec = JudgeSpec.parse(text)
            if spec.text in self._judges:
                raise ConfigError(f"--judge {spec.text} is given twice")
            options = AdapterOptions(
                base_url=spec.base_url,
                api_key_env=api_key_env,
                request_timeout=timeout,
                extra=dict(adapter_options or {}),
            )
            adapter_class = registry.load(registry.ADAPTER_GROUP, spec.adapter)
            check_options(adapter_class, options.extra, "judge adapter option")
            self._judges[spec.text] = _Judge(spec, adapter_class(spec.model, options))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def judges(self) -> list[str]:
        return list(self._judges)

    def capabilities(self, judge: str) -> Capabilities:
        return self._judges[judge].adapter.capabilities

    def wants_logprobs(self, judge: str) -> bool:
        """Whether to ask this judge for log-probabilities (until it refuses them)."""
        entry = self._judges[judge]
        return entry.logprobs and entry.adapter.capabilities.logprobs

    def describe(self) -> dict[str, Any]:
        """Each judge's identity (no secrets)."""
        return {name: entry.adapter.describe() for name, entry in self._judges.items()}

    # lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        """Start the loop thread and every judge adapter (idempotent)."""
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="harness-judge-loop", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            self._submit(self._start_adapters())

    async def _start_adapters(self) -> None:
        for entry in self._judges.values():
            if entry.started:
                continue
            await entry.adapter.start()
            entry.started = True
            entry.managed = ManagedAdapter(
                entry.adapter,
                concurrency=self.concurrency,
                timeout=self.timeout,
                retry=self.retry,
                cache=self.cache,
                read_cache=self.read_cache,
            )

    def close(self) -> None:
        """Close every started adapter, flush the cache and stop the loop thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            if loop is None or thread is None:
                self.cache.close()
                return
            try:
                self._submit(self._cancel_pending())
                self._submit(self._close_adapters())
            finally:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(timeout=30)
                loop.close()
                self._loop = self._thread = None
                self.cache.close()

    @staticmethod
    async def _cancel_pending() -> None:
        """Cancel calls still in flight (a caller waiting on them gets CancelledError rather
        than waiting forever on a stopped loop)."""
        current = asyncio.current_task()
        pending = [task for task in asyncio.all_tasks() if task is not current]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _close_adapters(self) -> None:
        for entry in self._judges.values():
            if entry.started:
                entry.started = False
                entry.managed = None
                await entry.adapter.close()

    def __enter__(self) -> JudgeRunner:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _submit(self, coroutine: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None
        if threading.current_thread() is self._thread:
            coroutine.close()
            raise RuntimeError("JudgeRunner must not be called from its own loop thread")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    # calls ----------------------------------------------------------------------

    def generate(self, calls: Sequence[JudgeCall]) -> list[Response]:
        """Every call's response, in order; failures come back as `Response.error`."""
        if not calls:
            return []
        self.start()
        try:
            return self._submit(self._generate_all(calls))
        finally:
            self.cache.flush()

    async def _generate_all(self, calls: Sequence[JudgeCall]) -> list[Response]:
        return list(await asyncio.gather(*(self._generate(call) for call in calls)))

    async def _generate(self, call: JudgeCall) -> Response:
        entry = self._judges[call.judge]
        assert entry.managed is not None
        request = call.request
        if request.top_logprobs is not None and not self.wants_logprobs(call.judge):
            request = _without_logprobs(request)
        response = await entry.managed.generate(request)
        if (
            response.error is not None
            and request.top_logprobs is not None
            and "logprob" in response.error.lower()
        ):
            # an endpoint that refuses log-probabilities (e.g. a reasoning model)
            entry.logprobs = False
            entry.notes.append(f"log-probabilities refused: {response.error[:120]}")
            response = await entry.managed.generate(_without_logprobs(request))
        return response

    def notes(self) -> dict[str, list[str]]:
        """What the runner had to work around, per judge."""
        return {name: list(e.notes) for name, e in self._judges.items() if e.notes}


def _without_logprobs(request: Request) -> Request:
    return Request(
        messages=request.messages,
        params=request.params,
        sample=request.sample,
        item=request.item,
        response_format=request.response_format,
        top_logprobs=None,
    )
