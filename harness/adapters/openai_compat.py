"""Any OpenAI-compatible chat endpoint (OpenAI, vLLM, llama.cpp server, Ollama).

`openai.AsyncOpenAI` configures the client (base URL, key, organization and project,
the SDK's own headers) and makes the start-up check. Chat completions then go one of
two ways, chosen with `--adapter-option transport=...`:

- `aiohttp` (default): posted on one aiohttp session with exactly the headers the SDK
  would send. The SDK builds every request through several layers of models and URL
  parsing, about 1.3 ms of CPU per call on a 2-core machine against 0.3 ms for the post
  itself (benchmarks/bench_transport.py); at concurrency 64 and 100 ms latency that
  overhead alone caps one event loop below the ~640 calls/s the endpoint can serve.
- `sdk`: `AsyncOpenAI.post`, for endpoints that need something only the SDK does.

Both map failures the same way: 429, 408, 409 and 5xx, timeouts and connection errors
are retryable (Retry-After honoured by the managed wrapper); other 4xx are permanent. A
200 whose body is no chat completion (not JSON, no choices, a field of the wrong type) is
retryable too: `parse_completion` checks every field it reads.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from harness.adapters.base import Adapter, AdapterOptions, Capabilities, Request, Response
from harness.errors import AdapterError, ConfigError, PermanentError, RetryableError
from harness.records import kind_of

DEFAULT_BASE_URL = "https://api.openai.com/v1"
TRANSPORTS = ("aiohttp", "sdk")


def public_url(url: str) -> str:
    """The URL without credentials or query string, safe to store and print."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


MAX_RETRY_AFTER = 600.0
"""Longest wait a Retry-After header can ask for before a retry (seconds)."""


def _retry_after(headers: Any) -> float | None:
    """Seconds the server asks to wait: `retry-after-ms`, else `Retry-After` as seconds or
    an HTTP date (each read on its own: an unreadable one does not hide the other); None
    when neither is readable, at most MAX_RETRY_AFTER."""
    if headers is None:
        return None
    milliseconds = _seconds(headers.get("retry-after-ms"))
    if milliseconds is not None:
        return min(milliseconds / 1000, MAX_RETRY_AFTER)
    value = headers.get("retry-after")
    seconds = _seconds(value)
    if seconds is None and value is not None:
        seconds = _http_date_delay(str(value))
    return None if seconds is None else min(seconds, MAX_RETRY_AFTER)


def _seconds(value: Any) -> float | None:
    """A header's number, when it is one that is finite and >= 0."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _http_date_delay(value: str) -> float | None:
    from datetime import UTC, datetime
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _error_message(body: bytes) -> str:
    """The `error.message` of an OpenAI-style error body, else the start of the body."""
    try:
        error = json.loads(body).get("error")
        message = error.get("message") if isinstance(error, dict) else error
        if isinstance(message, str) and message:
            return message
    except (ValueError, AttributeError):
        pass
    return body[:200].decode("utf-8", "replace")


def status_error(status: int, message: str, headers: Any) -> RetryableError | PermanentError:
    """The error an HTTP failure status means for the managed wrapper (an exhausted quota is
    a 429 that waiting does not cure)."""
    text = f"HTTP {status}: {message[:200]}"
    if status == 429:
        if "quota" in message.lower():
            return PermanentError(text)
        return RetryableError(
            f"429 rate limited: {message[:200]}", retry_after=_retry_after(headers)
        )
    if status >= 500 or status in (408, 409):
        return RetryableError(text, retry_after=_retry_after(headers))
    return PermanentError(text)


def _env_proxy(url: str) -> str | None:
    """The proxy HTTP(S)_PROXY / NO_PROXY name for `url`, looked up once.

    (aiohttp's `trust_env` would look it up, and read ~/.netrc, in a thread on every
    request: a fifth of the client's CPU per call.)
    """
    import ipaddress
    import urllib.request

    host = urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback or urllib.request.proxy_bypass(host):
        return None
    return urllib.request.getproxies().get(urlsplit(url).scheme)


def parse_completion(body: bytes) -> Response:
    """A chat-completions JSON body -> Response. A body that is no such reply (not JSON, no
    choices, an `error` in a 200, a field of the wrong type) is retryable, as a garbled
    reply may come right; a reply with no content is an error, not an empty answer, unless
    the model refused (then the refusal is its answer, marked in `extra`)."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise RetryableError(f"malformed response body: {body[:100]!r}") from exc
    if not isinstance(data, dict):
        raise _malformed(f"the body is {kind_of(data)}, not an object")
    if data.get("error") is not None or not data.get("choices"):
        raise RetryableError(f"no choices in the reply: {_error_message(body)}")
    choices = data["choices"]
    if not isinstance(choices, list):
        raise _malformed(f"choices is {kind_of(choices)}, not a list")
    choice = choices[0]
    if not isinstance(choice, dict):
        raise _malformed(f"choices[0] is {kind_of(choice)}, not an object")
    message = choice.get("message") or {}
    if not isinstance(message, dict):
        raise _malformed(f"the message is {kind_of(message)}, not an object")
    usage = data.get("usage") or {}
    if not isinstance(usage, dict):
        raise _malformed(f"usage is {kind_of(usage)}, not an object")
    finish_reason = choice.get("finish_reason")
    if finish_reason is not None and not isinstance(finish_reason, str):
        raise _malformed(f"finish_reason is {kind_of(finish_reason)}, not text")
    extra: dict[str, Any] = {}
    logprobs = _logprobs(choice.get("logprobs"))
    if logprobs:
        extra["logprobs"] = logprobs
    content = _content_text(message.get("content"))
    if content is None:
        refusal = message.get("refusal")
        if not refusal:
            raise PermanentError(f"the reply has no content (finish_reason {finish_reason!r})")
        if not isinstance(refusal, str):
            raise _malformed(f"the refusal is {kind_of(refusal)}, not text")
        content, extra["refusal"] = refusal, True
    return Response(
        text=content,
        prompt_tokens=_token_count(usage, "prompt_tokens"),
        completion_tokens=_token_count(usage, "completion_tokens"),
        finish_reason=finish_reason,
        extra=extra,
    )


def _malformed(what: str) -> RetryableError:
    """A reply whose JSON is not shaped as a chat completion (retried like a garbled body)."""
    return RetryableError(f"malformed reply: {what}")


def _content_text(content: Any) -> str | None:
    """The message's text: a string as sent, or the text parts of a list of content parts
    joined (as some servers send it); None when there is none."""
    if content is None or isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _malformed(f"the message content is {kind_of(content)}, not text")
    texts = []
    for part in content:
        if not isinstance(part, dict):
            raise _malformed(f"a content part is {kind_of(part)}, not an object")
        if part.get("type", "text") == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise _malformed(f"the text of a text part is {kind_of(text)}, not text")
            texts.append(text)
    return "".join(texts) if texts else None


def _token_count(usage: dict[str, Any], key: str) -> int | None:
    """A token count from `usage`: a whole number >= 0, or None when not given."""
    value = usage.get(key)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _malformed(f"usage.{key} is {value!r:.40}, not a count of tokens")
    return value


def _logprobs(logprobs: Any) -> list[dict[str, Any]] | None:
    """The per-token log-probabilities of a choice (`logprobs.content`), if any."""
    if logprobs is None:
        return None
    if not isinstance(logprobs, dict):
        raise _malformed(f"logprobs is {kind_of(logprobs)}, not an object")
    content = logprobs.get("content")
    if content is None:
        return None
    if not isinstance(content, list) or not all(isinstance(t, dict) for t in content):
        raise _malformed("logprobs.content is not a list of objects")
    return content


class OpenAIAdapter(Adapter):
    """Chat completions on an OpenAI-compatible endpoint, configured by `openai.AsyncOpenAI`."""

    name = "openai"
    capabilities = Capabilities(max_concurrency=512, seed=True, logprobs=True, json_schema=True)
    option_names: ClassVar[frozenset[str] | None] = frozenset({"transport"})

    def __init__(self, model: str, options: AdapterOptions) -> None:
        if not model:
            raise ConfigError("the openai adapter needs a model name: --model openai:MODEL")
        super().__init__(model, options)
        self.base_url = options.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        try:
            parts = urlsplit(self.base_url)
            parts.port  # noqa: B018 - raises for a port out of range
        except ValueError as exc:  # the URL is not shown: it may hold a key
            raise ConfigError(
                f"the base URL (from {self._url_source(options)}) cannot be read: {exc}; it is "
                "not shown, in case it holds a key"
            ) from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"the base URL {public_url(self.base_url)!r} needs http:// or https:// and a "
                "host, e.g. http://127.0.0.1:8000/v1"
            )
        if parts.username or parts.password or parts.query:
            raise ConfigError(
                f"put no credentials or query in the base URL ({public_url(self.base_url)}): "
                f"the key belongs in the variable named by --api-key-env"
            )
        key = (os.environ.get(options.api_key_env) or "").strip()
        if len(key) >= 8 and key in self.base_url:  # e.g. a key in the path
            raise ConfigError(
                f"the base URL (from {self._url_source(options)}) holds the API key from "
                f"{options.api_key_env}: the key belongs in that variable only (the URL is "
                "stored with the run)"
            )
        self.transport = str(options.extra.get("transport", "aiohttp")).strip().lower()
        if self.transport not in TRANSPORTS:
            raise ConfigError(
                f"adapter option transport={self.transport!r}: use one of {', '.join(TRANSPORTS)}"
            )
        self._client: Any = None
        self._session: Any = None
        self._chat_url = ""
        self._headers: dict[str, str] = {}
        self._proxy: str | None = None
        self._sent_key: str | None = None

    @staticmethod
    def _url_source(options: AdapterOptions) -> str:
        return "--base-url or the judge spec" if options.base_url else "OPENAI_BASE_URL"

    def _api_key(self) -> str:
        """The key from the environment, checked for what an HTTP header cannot carry (a
        pasted newline, a non-ASCII character); errors name the variable, never the value."""
        name = self.options.api_key_env
        key = (os.environ.get(name) or "").strip()
        if key:
            if not key.isascii() or not key.isprintable():
                raise ConfigError(
                    f"the API key in {name} holds a character an HTTP header cannot carry "
                    "(a line break, a control or non-ASCII character): set it again"
                )
            return key
        if public_url(self.base_url) == DEFAULT_BASE_URL:
            raise ConfigError(
                f"no API key: set {self.options.api_key_env} (or name another variable "
                "with --api-key-env)"
            )
        return "not-needed"  # local servers usually ignore the key

    async def start(self) -> None:
        import openai

        timeout = self.options.request_timeout
        # The proxy is chosen here, once, by the same rule as the direct transport (never
        # for loopback): left to the environment, the SDK's client would send a local
        # server's requests to HTTP_PROXY.
        proxy = _env_proxy(self.base_url)
        self._client = openai.AsyncOpenAI(
            api_key=self._api_key(),
            base_url=self.base_url,
            max_retries=0,  # the managed wrapper retries, honouring Retry-After
            timeout=timeout,
            http_client=openai.DefaultAioHttpClient(timeout=timeout, trust_env=False, proxy=proxy),
        )
        try:
            await self._preflight()
        except BaseException:
            await self.close()  # no client session left open by a failed start
            raise
        if self.transport == "aiohttp":
            import aiohttp

            # The SDK's headers minus its unset placeholders, plus its auth header.
            headers = {k: v for k, v in self._client.default_headers.items() if isinstance(v, str)}
            headers.update(self._client.auth_headers)
            self._headers = headers
            self._chat_url = f"{str(self._client.base_url).rstrip('/')}/chat/completions"
            self._proxy = _env_proxy(self._chat_url)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
                timeout=aiohttp.ClientTimeout(total=timeout),
            )

    async def _preflight(self) -> None:
        """Fail at start, not once per item, when the endpoint cannot be reached."""
        import openai

        try:
            await self._client.models.list()
        except openai.AuthenticationError as exc:
            raise AdapterError(
                f"{public_url(self.base_url)} rejected the API key in "
                f"{self.options.api_key_env} (401): check the key"
            ) from exc
        except (openai.APIConnectionError, openai.APITimeoutError) as exc:
            raise AdapterError(
                f"cannot reach {public_url(self.base_url)}: {_first_cause(exc)}; "
                "is the server running? set --base-url or OPENAI_BASE_URL"
            ) from exc
        except openai.APIStatusError:
            pass  # reachable; some servers do not list models
        except openai.OpenAIError as exc:
            raise AdapterError(
                f"cannot use {public_url(self.base_url)}: {exc.__class__.__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}"
            ) from exc

    def request_body(self, request: Request) -> dict[str, Any]:
        """The chat-completions JSON body for one request."""
        params = request.params
        body: dict[str, Any] = {
            "model": self.model,
            "messages": list(request.messages),
            "temperature": params.temperature,
            "max_tokens": params.max_tokens,
        }
        if params.top_p is not None:
            body["top_p"] = params.top_p
        if params.seed is not None:
            body["seed"] = params.seed + request.sample
        if params.stop:
            body["stop"] = list(params.stop)
        if request.response_format is not None:
            body["response_format"] = request.response_format
        if request.top_logprobs is not None:
            body["logprobs"] = True
            body["top_logprobs"] = request.top_logprobs
        return body

    async def generate(self, request: Request) -> Response:
        body = self.request_body(request)
        if self._session is not None:
            payload = await self._post_aiohttp(body)
        else:
            payload = await self._post_sdk(body)
        return parse_completion(self._redact_payload(payload))

    async def _post_aiohttp(self, body: dict[str, Any]) -> bytes:
        import aiohttp

        data = json.dumps(body, ensure_ascii=False).encode()
        try:
            async with self._session.post(
                self._chat_url, data=data, headers=self._headers, proxy=self._proxy
            ) as r:
                payload: bytes = await r.read()
                status, headers = r.status, r.headers
        except TimeoutError as exc:
            raise RetryableError("APITimeoutError") from exc
        except aiohttp.ClientError as exc:
            raise RetryableError(f"APIConnectionError: {exc.__class__.__name__}") from exc
        if status >= 400:
            raise status_error(status, _error_message(self._redact_payload(payload)), headers)
        return payload

    def _secret(self) -> str:
        """The API key sent, when long enough to be told apart from ordinary text (read
        from the environment once: every reply is checked for it)."""
        if self._sent_key is None:
            key = (os.environ.get(self.options.api_key_env) or "").strip()
            self._sent_key = key if len(key) >= 8 else ""
        return self._sent_key

    def _redact(self, message: str) -> str:
        """A server's error text without the API key (some echo the key they rejected)."""
        key = self._secret()
        return message.replace(key, "***") if key else message

    def _redact_payload(self, payload: bytes) -> bytes:
        """A reply body without the API key, cleaned whole before any part of it is cut
        into a message (a cut key would no longer match)."""
        key = self._secret().encode()
        return payload.replace(key, b"***") if key else payload

    async def _post_sdk(self, body: dict[str, Any]) -> bytes:
        import openai

        try:
            # The raw POST skips the SDK's per-call TypedDict transform and pydantic
            # parsing, keeping its auth, URL handling and error mapping.
            payload: bytes = await self._client.post("/chat/completions", body=body, cast_to=bytes)
        except openai.APIStatusError as exc:
            message = self._redact(str(exc.message))
            raise status_error(exc.status_code, message, exc.response.headers) from exc
        except (openai.APITimeoutError, openai.APIConnectionError) as exc:
            raise RetryableError(exc.__class__.__name__) from exc
        return payload

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._client is not None:
            await self._client.close()
            self._client = None

    def describe(self) -> dict[str, Any]:
        return {"adapter": self.name, "model": self.model, "base_url": public_url(self.base_url)}


def _first_cause(exc: BaseException) -> str:
    """What went wrong first, in one line: the SDK reports a refused connection as a
    timeout, so its own name would send the user looking for a slow server."""
    root = exc
    while root.__cause__ is not None:
        root = root.__cause__
    text = str(root).splitlines()[0] if str(root) else ""
    return f"{root.__class__.__name__}: {text}" if text else root.__class__.__name__
