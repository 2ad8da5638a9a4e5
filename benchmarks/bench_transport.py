"""Which HTTP transport to put under the OpenAI adapter.

Spawns `python -m harness.mockserver` as a separate process and makes N chat
completions at a fixed concurrency (a semaphore) through several clients:

  bare        aiohttp.ClientSession posting JSON, json-decoding the reply
  sdk-aio     openai.AsyncOpenAI(http_client=openai.DefaultAioHttpClient())
  raw-aio     the same client, `.with_raw_response.create(...)`, body parsed with json
  sdk-httpx   openai.AsyncOpenAI on its default httpx transport

and variants of them (see VARIANTS). Each client is warmed up first (its pool
filled with `concurrency` connections), and that is not timed. Prints wall seconds,
the ideal (N x latency / concurrency), the ratios to the ideal and to `bare`,
client CPU milliseconds per call (the client's own overhead on this machine),
`max/s` = 1000 / that (the most calls per second one event loop could make),
`srv ms`, the mock server's CPU milliseconds per call (Linux), and `conns`, the TCP
connections the server accepted during the timed calls (0: the pool was reused).

    python benchmarks/bench_transport.py                    # 100 ms and 0 ms
    python benchmarks/bench_transport.py --latency-ms 100 --only bare,sdk-aio
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import pstats
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import aiohttp
import httpx2
import openai
from openai.types.chat import ChatCompletion

ROOT = Path(__file__).resolve().parents[1]

Call = Callable[[int], Awaitable[str]]
Factory = Callable[[str, int], AbstractAsyncContextManager[Call]]


def _messages(i: int) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": "Answer with one word."},
        {"role": "user", "content": f"Question number {i}: what is the answer?\nANSWER: a{i}"},
    ]


def _body(i: int) -> dict[str, Any]:
    return {"model": "mock", "messages": _messages(i), "temperature": 0.0, "max_tokens": 64}


# -- the clients --------------------------------------------------------------------------


@asynccontextmanager
async def bare_aiohttp(base_url: str, concurrency: int) -> Any:
    """aiohttp.ClientSession, JSON in and out; the floor the SDK should approach."""
    connector = aiohttp.TCPConnector(limit=max(100, concurrency))
    headers = {"Authorization": "Bearer x"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        url = f"{base_url}/chat/completions"

        async def call(i: int) -> str:
            async with session.post(url, json=_body(i)) as resp:
                resp.raise_for_status()
                data = json.loads(await resp.read())
            return str(data["choices"][0]["message"]["content"])

        yield call


def _sdk(base_url: str, http_client: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=base_url, api_key="x", max_retries=0, timeout=60.0, http_client=http_client
    )


def _parsed_call(client: openai.AsyncOpenAI) -> Call:
    async def call(i: int) -> str:
        completion = await client.chat.completions.create(
            model="mock",
            messages=cast(Any, _messages(i)),
            temperature=0.0,
            max_tokens=64,
        )
        return completion.choices[0].message.content or ""

    return call


def _raw_call(client: openai.AsyncOpenAI) -> Call:
    async def call(i: int) -> str:
        raw = await client.chat.completions.with_raw_response.create(
            model="mock",
            messages=cast(Any, _messages(i)),
            temperature=0.0,
            max_tokens=64,
        )
        data = json.loads(raw.content)
        return str(data["choices"][0]["message"]["content"])

    return call


_AUTH: Any = {"security": {"bearer_auth": True}}  # what `create()` passes


def _post_model_call(client: openai.AsyncOpenAI) -> Call:
    """`client.post(cast_to=ChatCompletion)`: `create()` minus its request-params transform."""

    async def call(i: int) -> str:
        completion = await client.post(
            "/chat/completions", body=_body(i), cast_to=ChatCompletion, options=_AUTH
        )
        return completion.choices[0].message.content or ""

    return call


def _post_call(client: openai.AsyncOpenAI) -> Call:
    """`client.post(cast_to=httpx2.Response)`: the SDK's request path, no pydantic model."""

    async def call(i: int) -> str:
        response = await client.post(
            "/chat/completions", body=_body(i), cast_to=httpx2.Response, options=_AUTH
        )
        data = json.loads(response.content)
        return str(data["choices"][0]["message"]["content"])

    return call


@asynccontextmanager
async def sdk_client(base_url: str, http_client: Any, make: Callable[[Any], Call]) -> Any:
    """An AsyncOpenAI around `http_client`, closed afterwards."""
    client = _sdk(base_url, http_client)
    try:
        yield make(client)
    finally:
        await client.close()


def sdk_aio(base_url: str, concurrency: int) -> AbstractAsyncContextManager[Call]:
    """AsyncOpenAI on DefaultAioHttpClient() as the adapter builds it today."""
    return sdk_client(base_url, openai.DefaultAioHttpClient(timeout=60.0), _parsed_call)


def raw_aio(base_url: str, concurrency: int) -> AbstractAsyncContextManager[Call]:
    """DefaultAioHttpClient, `.with_raw_response`, body decoded with json."""
    return sdk_client(base_url, openai.DefaultAioHttpClient(timeout=60.0), _raw_call)


def sdk_httpx(base_url: str, concurrency: int) -> AbstractAsyncContextManager[Call]:
    """AsyncOpenAI on its default httpx transport."""
    return sdk_client(base_url, None, _parsed_call)


def raw_httpx(base_url: str, concurrency: int) -> AbstractAsyncContextManager[Call]:
    """Default httpx transport with `.with_raw_response`."""
    return sdk_client(base_url, None, _raw_call)


def post_model_aio(base_url: str, concurrency: int) -> AbstractAsyncContextManager[Call]:
    """DefaultAioHttpClient, `client.post(cast_to=ChatCompletion)`: typed, no transform."""
    return sdk_client(base_url, openai.DefaultAioHttpClient(timeout=60.0), _post_model_call)


def post_aio(base_url: str, concurrency: int) -> AbstractAsyncContextManager[Call]:
    """DefaultAioHttpClient, `client.post(cast_to=httpx2.Response)` and json."""
    return sdk_client(base_url, openai.DefaultAioHttpClient(timeout=60.0), _post_call)


def tuned_aio(base_url: str, concurrency: int) -> AbstractAsyncContextManager[Call]:
    """`create()` on DefaultAioHttpClient with pool limit = concurrency, 60 s keep-alive."""
    limits = httpx2.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=60
    )
    http_client = openai.DefaultAioHttpClient(timeout=60.0, limits=limits)
    return sdk_client(base_url, http_client, _parsed_call)


VARIANTS: dict[str, Factory] = {
    "bare": bare_aiohttp,
    "sdk-aio": sdk_aio,
    "raw-aio": raw_aio,
    "sdk-httpx": sdk_httpx,
    "raw-httpx": raw_httpx,
    "post-model-aio": post_model_aio,
    "post-aio": post_aio,
    "tuned-aio": tuned_aio,
}
DEFAULT = ("bare", "sdk-aio", "raw-aio", "sdk-httpx")


# -- the measurement ----------------------------------------------------------------------


@dataclass
class Result:
    """One timed run of one variant."""

    name: str
    wall_s: float
    cpu_ms_per_call: float
    server_ms_per_call: float
    errors: int
    connections: int
    """TCP connections the server accepted during the timed calls (0: pool reused)."""


def _server_connections(base_url: str) -> int:
    url = base_url.removesuffix("/v1") + "/_mock/stats"
    with urllib.request.urlopen(url, timeout=10) as reply:
        return int(json.loads(reply.read())["connections"])


async def _drive(call: Call, start: int, n: int, concurrency: int) -> int:
    """Make calls start..start+n-1 with at most `concurrency` in flight; return errors."""
    semaphore = asyncio.Semaphore(concurrency)
    errors = 0

    async def one(i: int) -> None:
        nonlocal errors
        async with semaphore:
            try:
                answer = await call(i)
            except Exception:
                errors += 1
                return
            if answer != f"a{i}":
                errors += 1

    await asyncio.gather(*(one(i) for i in range(start, start + n)))
    return errors


async def measure(
    name: str, server: Server, n: int, concurrency: int, profile: cProfile.Profile | None
) -> Result:
    """Warm one client up (untimed), then time n calls."""
    base_url = server.base_url
    async with VARIANTS[name](base_url, concurrency) as call:
        await _drive(call, 10_000_000, 2 * concurrency, concurrency)  # fill the pool
        gc.collect()
        before = _server_connections(base_url)
        if profile is not None:
            profile.enable()
        server_cpu0 = server.cpu_s()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        errors = await _drive(call, 0, n, concurrency)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        server_cpu = server.cpu_s() - server_cpu0
        if profile is not None:
            profile.disable()
        opened = _server_connections(base_url) - before - 1  # less the stats call's own
    return Result(name, wall, 1000 * cpu / n, 1000 * server_cpu / n, errors, opened)


class Server:
    """`python -m harness.mockserver` in a child process."""

    def __init__(self, latency_ms: float) -> None:
        latency_args = ["--latency-ms", str(latency_ms)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "harness.mockserver", "--port", "0", *latency_args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("READY "):
            self.proc.kill()
            raise RuntimeError(f"mock server did not start: {line!r}")
        self.base_url = line.split(" ", 1)[1]

    def cpu_s(self) -> float:
        """CPU seconds the server has used so far (Linux /proc; 0 elsewhere)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        """SIGTERM, then wait."""
        self.proc.terminate()
        self.proc.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    """Run the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency-ms", type=float, action="append", help="default: 100 and 0")
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant; best is shown")
    parser.add_argument(
        "--only", default=",".join(DEFAULT), help=f"'all' or of {', '.join(VARIANTS)}"
    )
    parser.add_argument("--profile", metavar="VARIANT", help="cProfile one variant, print top")
    parser.add_argument(
        "--gc-threshold",
        type=int,
        metavar="N",
        help="gc.freeze() and gc.set_threshold(N, 20, 100) before measuring (default: untouched)",
    )
    args = parser.parse_args(argv)
    if args.gc_threshold:
        gc.freeze()
        gc.set_threshold(args.gc_threshold, 20, 100)
    names = list(VARIANTS) if args.only == "all" else [s for s in args.only.split(",") if s]
    unknown = [s for s in names if s not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")

    for latency in args.latency_ms or [100.0, 0.0]:
        server = Server(latency)
        try:
            ideal = args.n * latency / 1000 / args.concurrency
            print(
                f"\n{args.n} calls, concurrency {args.concurrency}, latency {latency:g} ms, "
                f"ideal {ideal:.2f} s, best of {args.repeat}, gc threshold {gc.get_threshold()[0]}"
            )
            print(
                f"{'variant':<15}{'wall s':>7}{'/ideal':>7}{'/bare':>7}{'cpu ms/call':>12}"
                f"{'max/s':>7}{'srv ms':>7}{'conns':>6}{'errors':>7}  all runs"
            )
            bare: float | None = None
            for name in names:
                profile = cProfile.Profile() if args.profile == name else None
                runs = [
                    asyncio.run(measure(name, server, args.n, args.concurrency, profile))
                    for _ in range(args.repeat)
                ]
                best = min(runs, key=lambda r: r.wall_s)
                if name == "bare":
                    bare = best.wall_s
                vs_ideal = f"{best.wall_s / ideal:.2f}" if ideal else "-"
                vs_bare = f"{best.wall_s / bare:.2f}" if bare else "-"
                print(
                    f"{name:<15}{best.wall_s:>7.2f}{vs_ideal:>7}{vs_bare:>7}"
                    f"{best.cpu_ms_per_call:>12.3f}{1000 / best.cpu_ms_per_call:>7.0f}"
                    f"{best.server_ms_per_call:>7.3f}{best.connections:>6}"
                    f"{sum(r.errors for r in runs):>7}  "
                    + " ".join(f"{r.wall_s:.2f}" for r in runs),
                    flush=True,
                )
                if profile is not None:
                    pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
