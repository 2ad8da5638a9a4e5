"""A loopback OpenAI-compatible chat server for tests and benchmarks.

It answers `GET /v1/models` and non-streaming `POST /v1/chat/completions`, with
configurable latency, injected 429/500 faults and accounting that tests can read
("every item answered, none twice"). It is built on aiohttp's low-level server
(no router, no middlewares, no access log) so that it costs as little CPU as
possible per request: in benchmarks it shares the machine with the client being
measured.

Run it in-process (`MockServer`, or `running_mock_server` from sync code) or as a
process for benchmarks::

    python -m harness.mockserver --port 0 --latency-ms 100 --rate-429 0.05

which prints one line `READY http://127.0.0.1:PORT/v1` once listening and exits
cleanly on SIGTERM or SIGINT. It only ever binds 127.0.0.1.

Besides the API it serves `GET /_mock/stats` (the accounting as JSON, no key
needed) and `POST /_mock/reset`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

from aiohttp import web

HOST = "127.0.0.1"
_JSON = {"Content-Type": "application/json"}
_ANSWER_RE = re.compile(r"^[ \t]*ANSWER:[ \t]*(.*?)[ \t]*$", re.MULTILINE)

Mode = Literal["echo", "answer"]


@dataclass
class MockConfig:
    """How the mock server behaves; fields may be changed while it runs."""

    latency_ms: float = 0.0
    """Sleep before every reply (faults included, not 401/400)."""
    rate_429: float = 0.0
    """Probability that a chat request gets a 429 instead of an answer."""
    rate_500: float = 0.0
    """Probability that a chat request gets a 500 instead of an answer."""
    retry_after_s: float = 0.05
    """Value of the `Retry-After` header on 429 (fractional seconds allowed)."""
    seed: int = 0
    """Seed of the fault RNG (one draw per chat request, in arrival order)."""
    mode: Mode = "answer"
    """`echo` replies with the last user message; `answer` replies with its last
    `ANSWER: xyz` line when it has one, else echoes."""
    require_api_key: str | None = None
    """When set, requests without `Authorization: Bearer <key>` get 401."""
    fail_first_n_per_prompt: int = 0
    """Each distinct prompt gets this many 500s before it is answered."""
    model: str = "mock-model"
    """The model listed by /v1/models; replies echo the requested model name."""

    def __post_init__(self) -> None:
        if self.mode not in ("echo", "answer"):
            raise ValueError(f"mode must be 'echo' or 'answer', not {self.mode!r}")
        for name in ("rate_429", "rate_500"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.rate_429 + self.rate_500 > 1.0:
            raise ValueError("rate_429 + rate_500 must not exceed 1")
        if self.latency_ms < 0 or self.retry_after_s < 0 or self.fail_first_n_per_prompt < 0:
            raise ValueError("latency_ms, retry_after_s and fail_first_n_per_prompt must be >= 0")


@dataclass
class MockStats:
    """What the server has seen. `completions` counts successful replies per prompt."""

    requests: int = 0
    """Every request to /v1/* (models listing included)."""
    successes: int = 0
    """Chat completions answered with 200."""
    faults: dict[int, int] = field(default_factory=dict)
    """Non-200 replies by status code (429, 500, 401, 400, 404, ...)."""
    completions: dict[str, int] = field(default_factory=dict)
    """Prompt (last user message) -> number of successful completions."""
    connections: int = 0
    """TCP connections accepted (few means the client reuses them)."""

    @property
    def duplicates(self) -> dict[str, int]:
        """Prompts answered more than once."""
        return {prompt: n for prompt, n in self.completions.items() if n > 1}

    def copy(self) -> MockStats:
        """An independent snapshot."""
        return MockStats(
            self.requests,
            self.successes,
            dict(self.faults),
            dict(self.completions),
            self.connections,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (fault codes as strings)."""
        return {
            "requests": self.requests,
            "successes": self.successes,
            "faults": {str(code): n for code, n in self.faults.items()},
            "completions": self.completions,
            "connections": self.connections,
        }


def _text(content: Any) -> str:
    """Message content as text (a string or a list of OpenAI content parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _error(
    status: int, message: str, kind: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = json.dumps({"error": {"message": message, "type": kind, "param": None, "code": None}})
    return web.Response(status=status, body=body.encode(), headers={**_JSON, **(headers or {})})


class _CountingServer(web.Server):
    """aiohttp's low-level server, reporting each accepted connection."""

    on_connection: Callable[[], None] | None = None

    def connection_made(self, handler: Any, transport: Any) -> None:
        super().connection_made(handler, transport)
        if self.on_connection is not None:
            self.on_connection()


class MockServer:
    """The server on the running event loop: `base_url = await start()`, `await stop()`.

    Also an async context manager. `stats` is a snapshot, safe from any thread.
    """

    def __init__(self, config: MockConfig | None = None, port: int = 0) -> None:
        self.config = config or MockConfig()
        self.port = port
        self.base_url = ""
        self._stats = MockStats()
        self._lock = threading.Lock()
        self._rng = random.Random(self.config.seed)
        self._failed: dict[str, int] = {}
        self._ids = 0
        self._runner: web.ServerRunner | None = None

    @property
    def stats(self) -> MockStats:
        """A copy of the accounting so far."""
        with self._lock:
            return self._stats.copy()

    def reset(self) -> None:
        """Zero the accounting, the per-prompt failure counts and the fault RNG."""
        with self._lock:
            self._stats = MockStats()
            self._failed = {}
            self._rng = random.Random(self.config.seed)

    async def start(self) -> str:
        """Listen on 127.0.0.1 and return the base URL, e.g. http://127.0.0.1:PORT/v1."""
        server = _CountingServer(self._handle, access_log=None)
        server.on_connection = self._connected
        self._runner = web.ServerRunner(server, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, self.port, backlog=1024)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self.base_url = f"http://{HOST}:{self.port}/v1"
        return self.base_url

    async def stop(self) -> None:
        """Close the listener and open connections."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> MockServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _connected(self) -> None:
        with self._lock:
            self._stats.connections += 1

    # -- request handling ---------------------------------------------------------------

    def _fault(self, status: int) -> None:
        with self._lock:
            self._stats.faults[status] = self._stats.faults.get(status, 0) + 1

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        if path.startswith("/_mock/"):
            return self._control(request)
        with self._lock:
            self._stats.requests += 1
        cfg = self.config
        if (
            cfg.require_api_key is not None
            and request.headers.get("Authorization") != f"Bearer {cfg.require_api_key}"
        ):
            self._fault(401)
            return _error(401, "Incorrect API key provided.", "invalid_request_error")
        if path == "/v1/chat/completions":
            if request.method != "POST":
                self._fault(405)
                return _error(405, "use POST", "invalid_request_error")
            return await self._chat(request, cfg)
        if path in ("/v1/models", "/v1/models/"):
            body = {
                "object": "list",
                "data": [{"id": cfg.model, "object": "model", "created": 0, "owned_by": "mock"}],
            }
            return web.Response(body=json.dumps(body).encode(), headers=_JSON)
        self._fault(404)
        return _error(404, f"no route {request.method} {path}", "invalid_request_error")

    def _control(self, request: web.BaseRequest) -> web.Response:
        if request.path == "/_mock/reset" and request.method == "POST":
            self.reset()
        elif request.path != "/_mock/stats":
            return _error(404, "unknown control path", "invalid_request_error")
        return web.Response(body=json.dumps(self.stats.to_dict()).encode(), headers=_JSON)

    async def _chat(self, request: web.BaseRequest, cfg: MockConfig) -> web.Response:
        try:
            payload = json.loads(await request.read())
            messages = payload["messages"]
            if not isinstance(messages, list) or not messages:
                raise ValueError("messages must be a non-empty list")
            n = int(payload.get("n") or 1)
            if n < 1:
                raise ValueError("n must be >= 1")
        except (ValueError, KeyError, TypeError) as exc:
            self._fault(400)
            return _error(400, f"bad request: {exc}", "invalid_request_error")
        if payload.get("stream"):
            self._fault(400)
            return _error(400, "the mock server does not stream", "invalid_request_error")

        prompt = ""
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                prompt = _text(message.get("content"))
                break

        # Decide the fault at arrival, so a seed gives the same sequence of draws.
        status = 200
        with self._lock:
            failed = self._failed.get(prompt, 0)
            if failed < cfg.fail_first_n_per_prompt:
                self._failed[prompt] = failed + 1
                status = 500
            elif cfg.rate_429 or cfg.rate_500:
                draw = self._rng.random()
                if draw < cfg.rate_429:
                    status = 429
                elif draw < cfg.rate_429 + cfg.rate_500:
                    status = 500
            self._ids += 1
            number = self._ids

        if cfg.latency_ms > 0:
            await asyncio.sleep(cfg.latency_ms / 1000.0)

        if status == 429:
            self._fault(429)
            seconds = cfg.retry_after_s
            headers = {
                "Retry-After": f"{seconds:g}",
                "retry-after-ms": str(round(seconds * 1000)),
            }
            return _error(429, "Rate limit reached (mock).", "rate_limit_error", headers)
        if status == 500:
            self._fault(500)
            return _error(500, "The server had an error (mock).", "server_error")

        content = prompt
        if cfg.mode == "answer":
            found = _ANSWER_RE.findall(prompt)
            if found:
                content = found[-1]
        words = content.split()
        finish = "stop"
        max_tokens = payload.get("max_completion_tokens") or payload.get("max_tokens")
        if isinstance(max_tokens, int) and 0 < max_tokens < len(words):
            words = words[:max_tokens]
            content = " ".join(words)
            finish = "length"
        prompt_tokens = sum(
            len(_text(m.get("content")).split()) for m in messages if isinstance(m, dict)
        )
        message = {"role": "assistant", "content": content, "refusal": None}
        body = {
            "id": f"chatcmpl-mock{number:x}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": payload.get("model") or cfg.model,
            "choices": [
                {"index": i, "message": message, "logprobs": None, "finish_reason": finish}
                for i in range(n)
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(words) * n,
                "total_tokens": prompt_tokens + len(words) * n,
            },
        }
        with self._lock:
            self._stats.successes += 1
            self._stats.completions[prompt] = self._stats.completions.get(prompt, 0) + 1
        return web.Response(body=json.dumps(body).encode(), headers=_JSON)


class ThreadedMockServer:
    """A `MockServer` on its own event loop in a daemon thread, for sync code."""

    def __init__(self, config: MockConfig | None = None, port: int = 0) -> None:
        self.server = MockServer(config, port)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def config(self) -> MockConfig:
        """The live config (changes apply to the next request)."""
        return self.server.config

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:PORT/v1"""
        return self.server.base_url

    @property
    def stats(self) -> MockStats:
        """A snapshot of the accounting."""
        return self.server.stats

    def reset(self) -> None:
        """Zero the accounting and the fault RNG."""
        self.server.reset()

    def start(self) -> str:
        """Start the loop thread and the server; return the base URL."""
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()
        self._loop = loop

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.server.start())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.server.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="mockserver", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self.base_url

    def stop(self) -> None:
        """Stop the server and join its thread."""
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> ThreadedMockServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def running_mock_server(
    config: MockConfig | None = None, port: int = 0
) -> Iterator[ThreadedMockServer]:
    """`with running_mock_server(cfg) as server:` use `server.base_url`, `server.stats`."""
    server = ThreadedMockServer(config, port)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# -- separate process ---------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness.mockserver",
        description="Loopback OpenAI-compatible mock server; prints 'READY <base_url>'.",
    )
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--rate-429", type=float, default=0.0)
    parser.add_argument("--rate-500", type=float, default=0.0)
    parser.add_argument("--retry-after", type=float, default=0.05, help="seconds, on 429")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mode", choices=("echo", "answer"), default="answer")
    parser.add_argument("--require-api-key", default=None)
    parser.add_argument("--fail-first-n", type=int, default=0, help="500s per distinct prompt")
    parser.add_argument("--model", default="mock-model")
    return parser


async def _serve(config: MockConfig, port: int) -> MockStats:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with MockServer(config, port) as server:
        print(f"READY {server.base_url}", flush=True)
        await stop.wait()
        return server.stats


def main(argv: list[str] | None = None) -> int:
    """Run the server until SIGTERM/SIGINT; print a summary to stderr on exit."""
    args = _parser().parse_args(argv)
    try:
        config = MockConfig(
            latency_ms=args.latency_ms,
            rate_429=args.rate_429,
            rate_500=args.rate_500,
            retry_after_s=args.retry_after,
            seed=args.seed,
            mode=args.mode,
            require_api_key=args.require_api_key,
            fail_first_n_per_prompt=args.fail_first_n,
            model=args.model,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stats = asyncio.run(_serve(config, args.port))
    faults = ", ".join(f"{code}: {n}" for code, n in sorted(stats.faults.items())) or "none"
    print(
        f"mockserver stopped: {stats.requests} requests, {stats.successes} answered, "
        f"faults {faults}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
