"""Helpers shared by the benchmark scripts: a mock server process and datasets."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def mock_server_process(*args: str) -> Iterator[str]:
    """Start `python -m harness.mockserver ARGS` in its own process; yield its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "harness.mockserver", "--port", "0", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("READY "):
        process.kill()
        raise RuntimeError(f"mock server did not start: {line!r}")
    try:
        yield line.split(" ", 1)[1]
    finally:
        process.terminate()
        process.wait(timeout=10)


def write_qa(path: Path, n: int, *, with_response: bool = False) -> Path:
    """N rows of id/question/answer (and a ready-made response column)."""
    with path.open("w") as handle:
        for i in range(n):
            row = {"id": f"item-{i:07d}", "question": f"question number {i}", "answer": f"a{i}"}
            if with_response:
                row["response"] = f"a{i}"
            handle.write(json.dumps(row) + "\n")
    return path
