"""Shared fixtures: an isolated home and database per test, and the fake adapter."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import registry

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No test reads or writes the real home, cache or environment keys."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "HARNESS_DB"):
        monkeypatch.delenv(name, raising=False)
    yield home


@pytest.fixture
def fake_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `--model fake` resolve to the in-process fake adapter."""
    monkeypatch.setitem(registry.BUILTIN_ADAPTERS, "fake", "tests.fakes:FakeAdapter")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "runs" / "harness.db"


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture
def qa_file(tmp_path: Path) -> Path:
    """Ten QA rows with ids, references and a category."""
    rows = [
        {
            "id": f"q{i}",
            "question": f"What is {i} plus {i}?",
            "answer": str(2 * i),
            "category": "even" if i % 2 == 0 else "odd",
        }
        for i in range(10)
    ]
    return write_jsonl(tmp_path / "qa.jsonl", rows)
