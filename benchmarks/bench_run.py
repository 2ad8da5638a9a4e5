"""Run-pipeline benchmarks: throughput against a loopback server, and memory when streaming.

Prints ratios measured in one run (absolute times on a shared 2-core machine are noisy):
  1. 2,000 items at 100 ms latency, concurrency 64: harness vs the ideal N*latency/concurrency
     and vs a bare aiohttp client making the same calls (start-up excluded); the two are
     run alternately `--repeats` times against the same server, and the medians compared
     (every time is printed too);
  2. items/s at 0 ms latency, end to end with SQLite writes and exact_match;
  3. peak RSS of `harness run` with the replay adapter at 10k and 200k items.

Usage: python benchmarks/bench_run.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import mock_server_process, write_qa

from harness.adapters.base import GenerationParams
from harness.runner import RunOptions, execute
from harness.store.db import Store
from harness.summary import run_summary

TEMPLATE = "{{input}}\nANSWER: {{reference}}"


async def bare_client(base_url: str, n: int, concurrency: int) -> float:
    """The same calls with a plain aiohttp session: the floor for any client."""
    import aiohttp

    slots = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def call(i: int) -> None:
            body = {
                "model": "mock-model",
                "max_tokens": 16,
                "temperature": 0,
                "messages": [{"role": "user", "content": f"question number {i}\nANSWER: a{i}"}],
            }
            async with slots, session.post(f"{base_url}/chat/completions", json=body) as r:
                await r.json()

        await asyncio.gather(*(call(i) for i in range(min(n, concurrency))))  # warm up
        started = time.perf_counter()
        await asyncio.gather(*(call(i) for i in range(n)))
        return time.perf_counter() - started


def harness_run(data: Path, base_url: str, concurrency: int, db: Path) -> dict:
    run = asyncio.run(
        execute(
            RunOptions(
                dataset=str(data),
                model="openai:mock-model",
                base_url=base_url,
                template=TEMPLATE,
                scorers=["exact_match"],
                concurrency=concurrency,
                cache=False,
                db=db,
                params=GenerationParams(max_tokens=16),
            )
        )
    )
    summary = run_summary(Store(db), run["id"])
    assert summary["stats"]["items"] == summary["stats"]["responses"]
    assert summary["stats"]["errors"] == 0
    return summary["stats"]


def peak_rss_mb(data: Path, db: Path) -> float:
    """Peak RSS of one `harness run` with the replay adapter, in its own process."""
    code = (
        "import resource, subprocess, sys;"
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL);"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            sys.executable,
            "-m",
            "harness",
            "run",
            str(data),
            "--model",
            "replay:response",
            "--scorers",
            "exact_match",
            "--db",
            str(db),
            "--no-progress",
            "--json",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(out.stdout.strip()) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--repeats", type=int, default=3, help="alternate runs at 100 ms")
    args = parser.parse_args()
    n, concurrency, latency = 2000, 64, 0.100
    big = 20_000 if args.quick else 200_000
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = write_qa(root / "qa.jsonl", n)
        bares: list[float] = []
        harnesses: list[float] = []
        with mock_server_process("--latency-ms", str(latency * 1000)) as url:
            for i in range(args.repeats):
                bares.append(asyncio.run(bare_client(url, n, concurrency)))
                stats = harness_run(data, url, concurrency, root / f"a{i}.db")
                harnesses.append(stats["elapsed_s"])
        ideal = n * latency / concurrency
        bare, harness = statistics.median(bares), statistics.median(harnesses)
        results["latency_100ms"] = {
            "items": n,
            "ideal_s": ideal,
            "bare_client_s": round(bare, 3),
            "harness_s": round(harness, 3),
            "harness_over_ideal": round(harness / ideal, 3),
            "harness_over_bare": round(harness / bare, 3),
            "bare_over_ideal": round(bare / ideal, 3),
            "all_bare_s": [round(t, 3) for t in bares],
            "all_harness_s": [round(t, 3) for t in harnesses],
        }
        zero = write_qa(root / "zero.jsonl", 5000)
        with mock_server_process("--latency-ms", "0") as url:
            stats = harness_run(zero, url, concurrency, root / "b.db")
        results["latency_0ms"] = {"items": 5000, "items_per_s": round(stats["items_per_s"], 1)}
        small = peak_rss_mb(write_qa(root / "s.jsonl", 10_000, with_response=True), root / "c.db")
        large = peak_rss_mb(write_qa(root / "l.jsonl", big, with_response=True), root / "d.db")
        results["memory_replay"] = {
            "items_small": 10_000,
            "peak_rss_mb_small": round(small, 1),
            "items_large": big,
            "peak_rss_mb_large": round(large, 1),
            "growth_mb": round(large - small, 1),
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
