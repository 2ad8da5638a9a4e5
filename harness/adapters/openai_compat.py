"""Any OpenAI-compatible chat endpoint (OpenAI, vLLM, llama.cpp server, Ollama)."""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from harness.adapters.base import Adapter, AdapterOptions, Capabilities, Request, Response
from harness.errors import AdapterError, ConfigError, PermanentError, RetryableError

DEFAULT_BASE_URL = "https://api.openai.com/v1"


def public_url(url: str) -> str:
    """The URL without credentials or query string, safe to store and print."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _retry_after(headers: Any) -> float | None:
    value = headers.get("retry-after") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def parse_completion(body: bytes) -> Response:
    """A chat-completions JSON body -> Response; malformed bodies are retryable."""
    try:
        data = json.loads(body)
        choices = data.get("choices") or [{}]
        message = choices[0].get("message") or {}
        usage = data.get("usage") or {}
    except (ValueError, AttributeError, TypeError) as exc:
        raise RetryableError(f"malformed response body: {body[:100]!r}") from exc
    logprobs = (choices[0].get("logprobs") or {}).get("content")
    return Response(
        text=message.get("content") or "",
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        finish_reason=choices[0].get("finish_reason"),
        extra={"logprobs": logprobs} if logprobs else {},
    )


class OpenAIAdapter(Adapter):
    """Chat completions through `openai.AsyncOpenAI` on an aiohttp transport."""

    name = "openai"
    capabilities = Capabilities(max_concurrency=512, seed=True, logprobs=True, json_schema=True)

    def __init__(self, model: str, options: AdapterOptions) -> None:
        if not model:
            raise ConfigError("the openai adapter needs a model name: --model openai:MODEL")
        super().__init__(model, options)
        self.base_url = options.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        if urlsplit(self.base_url).password or urlsplit(self.base_url).query:
            raise ConfigError(
                f"put no credentials or query in the base URL ({public_url(self.base_url)}): "
                f"the key belongs in the variable named by --api-key-env"
            )
        self._client: Any = None

    def _api_key(self) -> str:
        key = os.environ.get(self.options.api_key_env)
        if key:
            return key
        if public_url(self.base_url) == DEFAULT_BASE_URL:
            raise ConfigError(
                f"no API key: set {self.options.api_key_env} (or name another variable "
                "with --api-key-env)"
            )
        return "not-needed"  # local servers usually ignore the key

    async def start(self) -> None:
        import openai

        self._client = openai.AsyncOpenAI(
            api_key=self._api_key(),
            base_url=self.base_url,
            max_retries=0,  # the managed wrapper retries, honouring Retry-After
            timeout=self.options.request_timeout,
            http_client=openai.DefaultAioHttpClient(timeout=self.options.request_timeout),
        )
        await self._preflight()

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
                f"cannot reach {public_url(self.base_url)}: {exc.__class__.__name__}; "
                "is the server running? set --base-url or OPENAI_BASE_URL"
            ) from exc
        except openai.APIStatusError:
            pass  # reachable; some servers do not list models

    async def generate(self, request: Request) -> Response:
        import openai

        params = request.params
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": list(request.messages),
            "temperature": params.temperature,
            "max_tokens": params.max_tokens,
        }
        if params.top_p is not None:
            kwargs["top_p"] = params.top_p
        if params.seed is not None:
            kwargs["seed"] = params.seed + request.sample
        if params.stop:
            kwargs["stop"] = list(params.stop)
        if request.response_format is not None:
            kwargs["response_format"] = request.response_format
        if request.top_logprobs is not None:
            kwargs["logprobs"] = True
            kwargs["top_logprobs"] = request.top_logprobs
        try:
            # The raw POST skips the client's per-call TypedDict transform and pydantic
            # parsing (over half its CPU time per call), keeping its auth, URL handling and
            # error mapping; the body is the documented chat-completions JSON.
            body = await self._client.post("/chat/completions", body=kwargs, cast_to=bytes)
        except openai.RateLimitError as exc:
            raise RetryableError(
                "429 rate limited", retry_after=_retry_after(exc.response.headers)
            ) from exc
        except openai.APIStatusError as exc:
            status = exc.status_code
            message = f"HTTP {status}: {str(exc.message)[:200]}"
            if status >= 500 or status in (408, 409):
                raise RetryableError(
                    message, retry_after=_retry_after(exc.response.headers)
                ) from exc
            raise PermanentError(message) from exc
        except (openai.APITimeoutError, openai.APIConnectionError) as exc:
            raise RetryableError(exc.__class__.__name__) from exc
        return parse_completion(body)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def describe(self) -> dict[str, Any]:
        return {"adapter": self.name, "model": self.model, "base_url": public_url(self.base_url)}
