"""The loopback mock server, over real HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from harness.mockserver import MockConfig, MockServer, running_mock_server

ROOT = Path(__file__).resolve().parents[1]


def chat(client: httpx.Client, url: str, text: str, **extra: Any) -> httpx.Response:
    body = {"model": "m", "messages": [{"role": "user", "content": text}], **extra}
    return client.post(f"{url}/chat/completions", json=body)


def test_response_shape_and_models() -> None:
    with running_mock_server(MockConfig(mode="echo")) as server, httpx.Client() as client:
        assert server.base_url.startswith("http://127.0.0.1:")
        assert server.base_url.endswith("/v1")
        models = client.get(f"{server.base_url}/models").json()
        assert models["object"] == "list"
        assert [m["id"] for m in models["data"]] == ["mock-model"]

        body = {
            "model": "gpt-x",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "one two three"},
            ],
        }
        reply = client.post(f"{server.base_url}/chat/completions", json=body)
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("application/json")
        data = reply.json()
        assert data["id"].startswith("chatcmpl-")
        assert data["object"] == "chat.completion"
        assert isinstance(data["created"], int)
        assert data["model"] == "gpt-x"
        (choice,) = data["choices"]
        assert choice["index"] == 0
        assert choice["message"] == {
            "role": "assistant",
            "content": "one two three",
            "refusal": None,
        }
        assert choice["finish_reason"] == "stop"
        assert data["usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}


def test_connections_are_counted_and_kept_alive() -> None:
    with running_mock_server() as server, httpx.Client() as client:
        for i in range(5):
            assert chat(client, server.base_url, f"q{i}").status_code == 200
        assert server.stats.connections == 1
    with running_mock_server() as server:
        for i in range(2):
            with httpx.Client() as client:
                chat(client, server.base_url, f"q{i}")
        assert server.stats.connections == 2


def test_n_choices_and_max_tokens() -> None:
    with running_mock_server() as server, httpx.Client() as client:
        data = chat(client, server.base_url, "a b c", n=3).json()
        assert [c["index"] for c in data["choices"]] == [0, 1, 2]
        assert {c["message"]["content"] for c in data["choices"]} == {"a b c"}
        assert data["usage"]["completion_tokens"] == 9

        data = chat(client, server.base_url, "a b c d e", max_tokens=2).json()
        assert data["choices"][0]["message"]["content"] == "a b"
        assert data["choices"][0]["finish_reason"] == "length"


def test_answer_and_echo_modes() -> None:
    prompt = "Question: capital of France?\nANSWER: Paris\n"
    with running_mock_server(MockConfig(mode="answer")) as server, httpx.Client() as client:
        content = chat(client, server.base_url, prompt).json()["choices"][0]["message"]["content"]
        assert content == "Paris"
        plain = chat(client, server.base_url, "no marker here").json()
        assert plain["choices"][0]["message"]["content"] == "no marker here"
        server.config.mode = "echo"
        echoed = chat(client, server.base_url, prompt).json()["choices"][0]["message"]["content"]
        assert echoed == prompt
        # content given as a list of parts
        parts = [{"type": "text", "text": "x\n"}, {"type": "text", "text": "ANSWER: 42"}]
        server.config.mode = "answer"
        reply = client.post(
            f"{server.base_url}/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": parts}]},
        ).json()
        assert reply["choices"][0]["message"]["content"] == "42"


def test_openai_client_parses_replies() -> None:
    async def go() -> tuple[str | None, int | None, list[str]]:
        async with MockServer(MockConfig(mode="answer")) as server:
            client = openai.AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0)
            try:
                completion = await client.chat.completions.create(
                    model="mock",
                    messages=[{"role": "user", "content": "hi\nANSWER: yes"}],
                    n=2,
                )
                models = await client.models.list()
            finally:
                await client.close()
            return (
                completion.choices[0].message.content,
                completion.usage.total_tokens if completion.usage else None,
                [m.id for m in models.data],
            )

    content, total, models = asyncio.run(go())
    assert content == "yes"
    assert total == 3 + 2
    assert models == ["mock-model"]


def test_fault_rates_follow_config_and_seed() -> None:
    config = MockConfig(rate_429=0.10, rate_500=0.05, seed=7)
    counts = []
    for _ in range(2):
        with running_mock_server(config) as server, httpx.Client() as client:
            codes = [chat(client, server.base_url, f"item {i}").status_code for i in range(500)]
            stats = server.stats
        assert codes.count(429) + codes.count(500) + codes.count(200) == 500
        assert 30 <= codes.count(429) <= 75  # expected 50
        assert 10 <= codes.count(500) <= 45  # expected 25
        assert stats.requests == 500
        assert stats.successes == codes.count(200)
        assert stats.faults == {429: codes.count(429), 500: codes.count(500)}
        assert sum(stats.completions.values()) == stats.successes
        assert stats.duplicates == {}
        counts.append(codes)
    assert counts[0] == counts[1]  # same seed, same sequence


def test_429_carries_retry_after() -> None:
    config = MockConfig(rate_429=1.0, retry_after_s=0.25)
    with running_mock_server(config) as server, httpx.Client() as client:
        reply = chat(client, server.base_url, "x")
        assert reply.status_code == 429
        assert float(reply.headers["Retry-After"]) == 0.25
        assert reply.headers["retry-after-ms"] == "250"
        assert reply.json()["error"]["type"] == "rate_limit_error"


def test_500_reply_is_an_openai_error() -> None:
    with running_mock_server(MockConfig(rate_500=1.0)) as server, httpx.Client() as client:
        reply = chat(client, server.base_url, "x")
        assert reply.status_code == 500
        assert "message" in reply.json()["error"]


def test_api_key_required() -> None:
    config = MockConfig(require_api_key="sekret")
    with running_mock_server(config) as server, httpx.Client() as client:
        assert chat(client, server.base_url, "x").status_code == 401
        assert client.get(f"{server.base_url}/models").status_code == 401
        wrong = client.get(f"{server.base_url}/models", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        good = client.post(
            f"{server.base_url}/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "x"}]},
            headers={"Authorization": "Bearer sekret"},
        )
        assert good.status_code == 200
        assert server.stats.faults == {401: 3}

        async def via_openai() -> None:
            client = openai.AsyncOpenAI(base_url=server.base_url, api_key="nope", max_retries=0)
            try:
                await client.models.list()
            finally:
                await client.close()

        with pytest.raises(openai.AuthenticationError):
            asyncio.run(via_openai())


def test_fail_first_n_per_prompt_then_answers_once() -> None:
    config = MockConfig(fail_first_n_per_prompt=2)
    with running_mock_server(config) as server, httpx.Client() as client:
        for prompt in ("a", "b"):
            codes = [chat(client, server.base_url, prompt).status_code for _ in range(3)]
            assert codes == [500, 500, 200]
        stats = server.stats
        assert stats.completions == {"a": 1, "b": 1}
        assert stats.faults == {500: 4}
        chat(client, server.base_url, "a")
        assert server.stats.duplicates == {"a": 2}
        server.reset()
        assert server.stats.requests == 0
        assert chat(client, server.base_url, "a").status_code == 500


def test_bad_requests_and_unknown_paths() -> None:
    with running_mock_server() as server, httpx.Client() as client:
        url = server.base_url
        assert client.post(f"{url}/chat/completions", content=b"not json").status_code == 400
        assert client.post(f"{url}/chat/completions", json={"model": "m"}).status_code == 400
        assert chat(client, url, "x", stream=True).status_code == 400
        assert client.get(f"{url}/chat/completions").status_code == 405
        assert client.get(f"{url}/nothing").status_code == 404
        stats = client.get(url.removesuffix("/v1") + "/_mock/stats").json()
        assert stats["faults"] == {"400": 3, "405": 1, "404": 1}


def test_latency_is_applied() -> None:
    async def go() -> float:
        config = MockConfig(latency_ms=100)
        async with MockServer(config) as server, httpx.AsyncClient() as client:
            body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
            url = f"{server.base_url}/chat/completions"
            started = time.perf_counter()
            replies = await asyncio.gather(*(client.post(url, json=body) for _ in range(20)))
            elapsed = time.perf_counter() - started
            assert all(r.status_code == 200 for r in replies)
            return elapsed

    elapsed = asyncio.run(go())
    assert 0.1 <= elapsed < 1.5  # concurrent: about one latency, not twenty


def test_invalid_config_is_rejected() -> None:
    with pytest.raises(ValueError):
        MockConfig(rate_429=0.7, rate_500=0.5)
    with pytest.raises(ValueError):
        MockConfig(mode="nonsense")  # type: ignore[arg-type]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_subprocess_prints_ready_and_stops_on_signal(sig: signal.Signals) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.mockserver", "--port", "0", "--latency-ms", "1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("READY http://127.0.0.1:")
        url = line.split(" ", 1)[1]
        with httpx.Client() as client:
            reply = chat(client, url, "ANSWER: ok")
            assert reply.json()["choices"][0]["message"]["content"] == "ok"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 0
        assert "1 answered" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
