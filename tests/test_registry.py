"""Adapters and scorers found by name, including a third-party package's entry points."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness import registry
from harness.errors import ConfigError


def install_plugin(root: Path) -> None:
    """Lay out a real (tiny) installed distribution with harness entry points."""
    (root / "harness_plugin_demo.py").write_text(
        textwrap.dedent("""
        from harness.adapters.base import Adapter, Response
        from harness.scorers.base import Scorer, ScoreRecord

        class EchoAdapter(Adapter):
            name = "echo"
            async def generate(self, request):
                return Response(text=request.messages[-1]["content"])

        class LengthScorer(Scorer):
            name = "length"
            def score(self, batch):
                return [ScoreRecord(e.item.id, e.sample, "length", float(len(e.response)))
                        for e in batch]
    """)
    )
    info = root / "harness_plugin_demo-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: harness-plugin-demo\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(
        "[harness.adapters]\necho = harness_plugin_demo:EchoAdapter\n\n"
        "[harness.scorers]\nlength = harness_plugin_demo:LengthScorer\n"
    )


def test_builtins_resolve() -> None:
    assert registry.load(registry.SCORER_GROUP, "exact_match").name == "exact_match"
    assert registry.load(registry.ADAPTER_GROUP, "replay").name == "replay"


def test_unknown_name_lists_what_exists() -> None:
    with pytest.raises(ConfigError, match=r"available: .*exact_match"):
        registry.load(registry.SCORER_GROUP, "bleuu")


def test_third_party_entry_points_work_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qa_file: Path, db_path: Path
) -> None:
    plugin = tmp_path / "site"
    plugin.mkdir()
    install_plugin(plugin)
    monkeypatch.syspath_prepend(str(plugin))
    assert "echo" in registry.available(registry.ADAPTER_GROUP)
    assert "length" in registry.available(registry.SCORER_GROUP)

    import asyncio

    from harness.runner import RunOptions, execute
    from harness.store.db import Store
    from harness.summary import run_summary

    run = asyncio.run(
        execute(
            RunOptions(
                dataset=str(qa_file),
                model="echo",
                scorers=["length"],
                db=db_path,
                template="Say: {{input}}",
            )
        )
    )
    summary = run_summary(Store(db_path), run["id"])
    length = summary["metrics"][0]
    assert length["metric"] == "length"
    assert length["value"] == len("Say: What is 0 plus 0?")


def test_missing_optional_package_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(registry.BUILTIN_SCORERS, "needs_pkg", "no_such_package_xyz.mod:Thing")
    with pytest.raises(ConfigError, match="pip install no_such_package_xyz"):
        registry.load(registry.SCORER_GROUP, "needs_pkg")
