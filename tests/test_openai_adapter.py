"""The OpenAI-compatible adapter over real HTTP, on both of its transports."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import re
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from harness.adapters.base import AdapterOptions, GenerationParams, Request, Response
from harness.adapters.openai_compat import OpenAIAdapter, _env_proxy
from harness.errors import AdapterError, ConfigError, PermanentError, RetryableError
from harness.mockserver import MockConfig, running_mock_server
from tests.conftest import write_jsonl

TRANSPORTS = ["aiohttp", "sdk"]
T = TypeVar("T")
Reply = tuple[int, str, dict[str, str]]
"""A scripted reply: status, body, extra headers."""


@contextlib.contextmanager
def scripted_server(reply: Callable[[dict[str, Any], str], Reply]) -> Iterator[str]:
    """A real loopback HTTP server for replies the mock server cannot give: it lists no
    models and answers each chat request with `reply(its JSON body, its Authorization
    header)`. Yields the base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def _send(self, status: int, text: str, headers: dict[str, str]) -> None:
            data = text.encode()
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._send(200, '{"data": []}', {})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            self._send(*reply(body, self.headers.get("Authorization", "")))

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def error_of(adapter: OpenAIAdapter) -> str:
    """The error one chat request ends in (empty when it is answered)."""

    async def call(a: OpenAIAdapter) -> str:
        try:
            await a.generate(ask("hello"))
        except (RetryableError, PermanentError) as exc:
            return str(exc)
        return ""

    return with_adapter(adapter, call)


def adapter_for(base_url: str, transport: str, **options: Any) -> OpenAIAdapter:
    return OpenAIAdapter(
        "mock-model",
        AdapterOptions(base_url=base_url, extra={"transport": transport}, **options),
    )


def ask(text: str, **params: Any) -> Request:
    return Request(messages=({"role": "user", "content": text},), params=GenerationParams(**params))


def with_adapter(adapter: OpenAIAdapter, use: Callable[[OpenAIAdapter], Awaitable[T]]) -> T:
    async def go() -> T:
        await adapter.start()
        try:
            return await use(adapter)
        finally:
            await adapter.close()

    return asyncio.run(go())


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_answers_are_parsed_with_usage(transport: str) -> None:
    with running_mock_server(MockConfig(require_api_key="sk-secret")) as server:
        adapter = adapter_for(server.base_url, transport, api_key_env="MOCK_KEY")
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MOCK_KEY", "sk-secret")  # the mock answers 401 without it
            response: Response = with_adapter(
                adapter, lambda a: a.generate(ask("two words\nANSWER: Paris France"))
            )
    assert response.text == "Paris France"
    assert response.finish_reason == "stop"
    assert (response.prompt_tokens, response.completion_tokens) == (5, 2)  # mock: words


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_max_tokens_reaches_the_endpoint(transport: str) -> None:
    with running_mock_server(MockConfig(mode="echo")) as server:
        adapter = adapter_for(server.base_url, transport)
        response = with_adapter(adapter, lambda a: a.generate(ask("a b c d e", max_tokens=2)))
    assert (response.text, response.finish_reason) == ("a b", "length")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_429_is_retryable_with_retry_after(transport: str) -> None:
    with running_mock_server(MockConfig(rate_429=1.0, retry_after_s=0.25)) as server:
        adapter = adapter_for(server.base_url, transport)
        with pytest.raises(RetryableError) as caught:
            with_adapter(adapter, lambda a: a.generate(ask("x")))
    assert caught.value.retry_after == 0.25
    assert "429" in str(caught.value)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_500_is_retryable_and_names_the_status(transport: str) -> None:
    with running_mock_server(MockConfig(rate_500=1.0)) as server:
        adapter = adapter_for(server.base_url, transport)
        with pytest.raises(RetryableError, match=r"HTTP 500: .*server had an error"):
            with_adapter(adapter, lambda a: a.generate(ask("x")))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_400_is_permanent_with_the_servers_message(transport: str) -> None:
    empty = Request(messages=(), params=GenerationParams())  # the mock rejects no messages
    with running_mock_server() as server:
        adapter = adapter_for(server.base_url, transport)
        with pytest.raises(PermanentError, match=r"HTTP 400: .*non-empty list"):
            with_adapter(adapter, lambda a: a.generate(empty))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_slow_reply_times_out_as_retryable(transport: str) -> None:
    with running_mock_server(MockConfig(latency_ms=2000)) as server:
        adapter = adapter_for(server.base_url, transport, request_timeout=0.3)

        async def slow_chat(a: OpenAIAdapter) -> Response:
            server.config.latency_ms = 2000  # models.list at start-up is not delayed
            return await a.generate(ask("x"))

        server.config.latency_ms = 0
        with pytest.raises(RetryableError, match="Timeout"):
            with_adapter(adapter, slow_chat)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_server_gone_after_start_is_retryable(transport: str) -> None:
    server = running_mock_server()
    with server as running:
        adapter = adapter_for(running.base_url, transport)

        async def after_stop(a: OpenAIAdapter) -> Response:
            running.stop()
            return await a.generate(ask("x"))

        with pytest.raises(RetryableError):
            with_adapter(adapter, after_stop)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_wrong_key_fails_at_start(transport: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    with running_mock_server(MockConfig(require_api_key="sk-right")) as server:
        adapter = adapter_for(server.base_url, transport)
        with pytest.raises(AdapterError, match="rejected the API key in OPENAI_API_KEY"):
            asyncio.run(adapter.start())


@pytest.mark.parametrize("bad", ["sk-a\nb", "sk-\x01x", "sk-clé"])
def test_a_key_no_header_can_carry_is_one_clear_error(
    bad: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", bad)
    adapter = adapter_for("http://127.0.0.1:9/v1", "aiohttp")
    with pytest.raises(ConfigError, match="API key in OPENAI_API_KEY holds a character") as err:
        asyncio.run(adapter.start())
    assert bad not in str(err.value)


def test_a_key_pasted_with_a_line_end_is_used_without_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-right\r\n")
    with running_mock_server(MockConfig(require_api_key="sk-right")) as server:
        adapter = adapter_for(server.base_url, "aiohttp")
        asyncio.run(adapter.start())
        asyncio.run(adapter.close())


@pytest.mark.parametrize(
    "url", ["https://sk-SECRET1@proxy.example/v1", "https://u:sk-SECRET1@proxy.example/v1"]
)
def test_credentials_in_the_url_are_refused_without_echoing_them(url: str) -> None:
    with pytest.raises(ConfigError, match="no credentials") as err:
        adapter_for(url, "aiohttp")
    assert "SECRET1" not in str(err.value)


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("http://u:sk-SECRET1@127.0.0.1:99999/v1", "cannot be read: Port out of range"),
        ("http://127.0.0.1:99999/v1?key=sk-SECRET1", "cannot be read: Port out of range"),
        ("http://[sk-SECRET1/v1", "cannot be read: Invalid IPv6 URL"),
        ("http://127.0.0.1:9/sk-SECRET1/v1", "holds the API key from OPENAI_API_KEY"),
    ],
)
def test_a_url_that_may_hold_a_key_is_never_echoed(
    url: str, error: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-SECRET1")
    with pytest.raises(ConfigError, match=error) as err:
        adapter_for(url, "aiohttp")
    assert "SECRET1" not in str(err.value)


def test_a_key_given_as_the_variable_name_is_refused_unseen() -> None:
    with pytest.raises(ConfigError, match="NAME of an environment variable") as err:
        AdapterOptions(api_key_env="sk-SECRET1")
    assert "SECRET1" not in str(err.value)


def test_an_unknown_transport_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="transport='curl'"):
        adapter_for("http://127.0.0.1:9/v1", "curl")


def test_request_body_carries_every_setting() -> None:
    adapter = adapter_for("http://127.0.0.1:9/v1", "aiohttp")
    request = Request(
        messages=({"role": "user", "content": "hi"},),
        params=GenerationParams(temperature=0.7, max_tokens=9, top_p=0.9, seed=5, stop=("\n",)),
        sample=2,
        response_format={"type": "json_object"},
        top_logprobs=3,
    )
    assert adapter.request_body(request) == {
        "model": "mock-model",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.7,
        "max_tokens": 9,
        "top_p": 0.9,
        "seed": 7,  # a different seed per sample, so samples differ but repeat
        "stop": ["\n"],
        "response_format": {"type": "json_object"},
        "logprobs": True,
        "top_logprobs": 3,
    }


def test_proxy_comes_from_the_environment_but_never_for_loopback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    assert _env_proxy("https://api.openai.com/v1/chat/completions") == "http://proxy.example:3128"
    assert _env_proxy("http://127.0.0.1:8000/v1/chat/completions") is None
    assert _env_proxy("http://localhost:8000/v1/chat/completions") is None
    monkeypatch.setenv("NO_PROXY", "api.openai.com")
    assert _env_proxy("https://api.openai.com/v1/chat/completions") is None


def test_retry_after_headers_are_read_in_every_form() -> None:
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    from harness.adapters.openai_compat import MAX_RETRY_AFTER, _retry_after

    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert _retry_after({"retry-after": "2.5"}) == 2.5
    assert _retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert 25 < (_retry_after({"retry-after": soon}) or 0) <= 30
    assert _retry_after({"retry-after": "inf"}) is None
    assert _retry_after({"retry-after": "-3"}) is None
    assert _retry_after({"retry-after": "soon"}) is None
    assert _retry_after({"retry-after": "99999"}) == MAX_RETRY_AFTER
    # each header read on its own: an unreadable retry-after-ms leaves Retry-After
    assert _retry_after({"retry-after-ms": "soon", "retry-after": "3"}) == 3.0
    assert _retry_after({"retry-after-ms": "-500", "retry-after": "3"}) == 3.0
    assert 25 < (_retry_after({"retry-after-ms": "nan", "retry-after": soon}) or 0) <= 30
    assert _retry_after({"retry-after-ms": "soon", "retry-after": "later"}) is None


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_retry_waits_for_retry_after_beside_an_unreadable_retry_after_ms(
    transport: str,
) -> None:
    """Over HTTP and through the managed wrapper (whose own backoff here is ~1 ms)."""
    import time

    from harness.adapters.managed import ManagedAdapter, RetryPolicy

    calls: list[float] = []

    def reply(body: dict[str, Any], auth: str) -> Reply:
        calls.append(time.monotonic())
        if len(calls) == 1:
            headers = {"retry-after-ms": "soon", "Retry-After": "0.6"}
            return 429, '{"error": {"message": "slow down"}}', headers
        return 200, completion("fine"), {}

    with scripted_server(reply) as url:
        managed = ManagedAdapter(adapter_for(url, transport), retry=RetryPolicy(base_delay=0.001))
        response = with_adapter(managed.adapter, lambda a: managed.generate(ask("q")))
    assert (response.text, response.attempts) == ("fine", 2)
    assert calls[1] - calls[0] >= 0.6


def test_replies_without_content_are_errors_and_refusals_answers() -> None:
    from harness.adapters.openai_compat import parse_completion, status_error

    def body(**message: Any) -> bytes:
        return json.dumps({"choices": [{"message": message, "finish_reason": "stop"}]}).encode()

    with pytest.raises(RetryableError, match="no choices"):
        parse_completion(json.dumps({"error": {"message": "overloaded"}}).encode())
    with pytest.raises(PermanentError, match="no content"):
        parse_completion(body(content=None))
    refusal = parse_completion(body(content=None, refusal="I can't help with that."))
    assert refusal.text == "I can't help with that." and refusal.extra["refusal"]
    assert parse_completion(body(content="")).text == ""
    assert isinstance(status_error(429, "You exceeded your current quota", {}), PermanentError)
    limited = status_error(429, "Rate limit reached", {"retry-after": "1"})
    assert isinstance(limited, RetryableError) and limited.retry_after == 1.0


def test_a_server_echoing_the_key_never_puts_it_in_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-SECRET-12345")
    adapter = adapter_for("http://127.0.0.1:9/v1", "aiohttp")
    assert adapter._redact("Incorrect API key provided: sk-SECRET-12345.") == (
        "Incorrect API key provided: ***."
    )


@pytest.mark.parametrize("transport", ["aiohttp", "sdk"])
def test_a_loopback_server_is_reached_with_a_proxy_in_the_environment(
    transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(name, "http://proxy.invalid:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with running_mock_server(MockConfig()) as server:
        adapter = adapter_for(server.base_url, transport)

        async def roundtrip() -> Response:
            await adapter.start()
            try:
                return await adapter.generate(ask("hello"))
            finally:
                await adapter.close()

        assert asyncio.run(roundtrip()).text


@pytest.mark.parametrize("transport", ["aiohttp", "sdk"])
@pytest.mark.parametrize(
    "reply",
    [
        '{"error": {"message": "quota for AUTH exhausted"}}',
        "oops AUTH not json",
        '{"choices": [{"message": {"content": null}, "finish_reason": "x AUTH"}]}',
    ],
)
def test_a_200_reply_echoing_the_key_never_stores_it(
    transport: str, reply: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Error texts from replies with status 200 (no choices, not JSON, no content) are
    cleaned of the key as those of 4xx/5xx replies are."""
    key = "sk-SECRET-12345"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    with scripted_server(lambda body, auth: (200, reply.replace("AUTH", auth), {})) as url:
        message = error_of(adapter_for(url, transport))
    assert message and key not in message and "***" in message, message


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://[::1", "cannot be read: Invalid IPv6 URL"),
        ("http://127.0.0.1:99999/v1", "cannot be read: Port out of range"),
        ("127.0.0.1:8000/v1", "needs http:// or https:// and a host"),
    ],
)
def test_a_base_url_that_cannot_work_is_one_clear_error(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        adapter_for(url, "aiohttp")


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("status", "as_json"), [(403, False), (502, False), (403, True)])
@pytest.mark.parametrize("before_cut", [8, 27])
def test_a_key_echoed_across_the_cut_of_an_error_text_leaves_no_part_of_it(
    transport: str, status: int, as_json: bool, before_cut: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error text is cut to 200 characters: the key is cleaned from the whole reply
    first, so one that straddles the cut leaves no prefix behind (in plain text and in a
    JSON error message, on a permanent and on a retried status)."""
    key = "sk-SECRET-0123456789abcdefXYZ"
    monkeypatch.setenv("OPENAI_API_KEY", key)

    def reply(body: dict[str, Any], auth: str) -> Reply:
        text = "y" * (200 - before_cut) + auth.removeprefix("Bearer ") + " end"
        if as_json:
            return status, json.dumps({"error": {"message": text}}), {}
        return status, text, {"Content-Type": "text/plain"}

    with scripted_server(reply) as url:
        message = error_of(adapter_for(url, transport))
    assert message.startswith(f"HTTP {status}"), message
    assert not any(key[:n] in message for n in range(6, len(key) + 1)), message


def completion(content: Any = "fine", **fields: Any) -> str:
    """A chat-completion body; `fields` replace its top-level fields or, for `message`,
    the whole message."""
    message = fields.pop("message", {"role": "assistant", "content": content})
    body = {
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }
    return json.dumps(body | fields)


MALFORMED = {
    "a number as content": completion(42),
    "an object as content": completion({"text": "hi"}),
    "a string as message": completion(message="hi"),
    "a string as a content part": completion(["hi"]),
    "text as a token count": completion(usage={"prompt_tokens": "3", "completion_tokens": 1}),
    "a negative token count": completion(usage={"prompt_tokens": -1}),
    "a list as usage": completion(usage=[3, 1]),
    "an object as choices": completion(choices={"0": {}}),
    "a string as a choice": completion(choices=["hi"]),
}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_content_parts_are_the_text_of_their_text_parts(transport: str) -> None:
    parts = [
        {"type": "text", "text": "Paris "},
        {"type": "image_url", "image_url": {"url": "x"}},
        {"type": "text", "text": "France"},
    ]
    with scripted_server(lambda body, auth: (200, completion(parts), {})) as url:
        response = with_adapter(adapter_for(url, transport), lambda a: a.generate(ask("q")))
    assert (response.text, response.prompt_tokens, response.completion_tokens) == (
        "Paris France",
        3,
        1,
    )


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("shape", sorted(MALFORMED))
def test_a_reply_of_the_wrong_shape_is_a_retryable_malformed_reply(
    transport: str, shape: str
) -> None:
    """Fields of the wrong type are a retryable "malformed reply" naming the field, never a
    Response that would break the store or the token accounting."""
    with scripted_server(lambda body, auth: (200, MALFORMED[shape], {})) as url:
        adapter = adapter_for(url, transport)
        with pytest.raises(RetryableError, match=r"^malformed reply: "):
            with_adapter(adapter, lambda a: a.generate(ask("q")))


def test_one_reply_of_the_wrong_shape_fails_its_item_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    """Items answered with a number as content, text token counts or a string message end
    in an error after their retries; content parts are an answer; the run completes."""
    from harness.runner import RunOptions, execute
    from harness.store.db import Store

    bad = {
        "q1": completion(42),
        "q2": completion(usage={"prompt_tokens": "3", "completion_tokens": "2"}),
        "q3": completion(message="hi"),
        "q4": completion([{"type": "text", "text": "a4"}]),
    }

    def reply(body: dict[str, Any], auth: str) -> Reply:
        prompt = body["messages"][-1]["content"]
        return 200, bad.get(prompt, completion(prompt.replace("q", "a"))), {}

    rows = [{"id": f"i{k}", "question": f"q{k}", "answer": f"a{k}"} for k in range(8)]
    data = write_jsonl(tmp_path / "data.jsonl", rows)
    with scripted_server(reply) as url:
        options = RunOptions(
            dataset=str(data),
            model="openai:m",
            base_url=url,
            scorers=["exact_match"],
            max_retries=1,
            cache=False,
            db=tmp_path / "h.db",
        )
        run = asyncio.run(execute(options))
    assert run["status"] == "completed"
    rows = Store(tmp_path / "h.db").conn.execute(
        "SELECT item_id, text, error, attempts FROM responses ORDER BY item_id"
    )
    responses = {item: (text, error, attempts) for item, text, error, attempts in rows}
    assert len(responses) == 8
    for item, field in [("i1", "content"), ("i2", "usage.prompt_tokens"), ("i3", "message")]:
        text, error, attempts = responses[item]
        assert text is None and error.startswith("malformed reply: ") and field in error
        assert attempts == 2 and "gave up after 2 attempts" in error, error
    assert responses["i4"] == ("a4", None, 1)
    assert all(responses[f"i{k}"] == (f"a{k}", None, 1) for k in (0, 5, 6, 7))
