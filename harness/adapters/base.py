"""The adapter contract: one async `generate()` and declared capabilities.

A provider only turns a `Request` into a `Response` once. Concurrency, retries,
timeouts, caching and accounting live in `harness.adapters.managed` so every
provider gets them for free.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from harness.errors import ConfigError
from harness.item import Item


@dataclass(frozen=True)
class GenerationParams:
    """Sampling settings sent with every request of a run."""

    temperature: float = 0.0
    max_tokens: int = 256
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("temperature", "top_p"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"{name} must be a finite number >= 0, not {value}")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "stop": list(self.stop)}


@dataclass(frozen=True)
class Capabilities:
    """What a provider can do; the wrapper and scorers read these."""

    max_concurrency: int = 64
    """Upper bound on requests in flight, whatever `--concurrency` asks."""
    seed: bool = False
    logprobs: bool = False
    json_schema: bool = False
    cacheable: bool = True
    """False for providers whose answers cost nothing to get again (replay)."""
    retry_timeouts: bool = True
    """False where a time-out is this machine's own compute (the embedded model): a retry
    would only do the same work again, as slowly."""


@dataclass(frozen=True)
class Request:
    """One call: chat messages for one sample of one item."""

    messages: tuple[dict[str, str], ...]
    params: GenerationParams
    sample: int = 0
    item: Item | None = None
    """The item this request answers; replay providers look responses up by it."""
    response_format: dict[str, Any] | None = None
    """An OpenAI `response_format` (e.g. a JSON schema), for providers with `json_schema`."""
    top_logprobs: int | None = None
    """Ask for this many alternatives per output token, for providers with `logprobs`."""


@dataclass
class Response:
    """What came back for one request (or why nothing did, in `error`)."""

    text: str | None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    latency_ms: float | None = None
    attempts: int = 1
    cached: bool = False
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AdapterOptions:
    """Settings from the command line that a provider may use."""

    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    request_timeout: float = 60.0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.api_key_env):
            # never echoed: a key pasted here by mistake must not reach a log
            raise ConfigError(
                "--api-key-env (api_key_env) takes the NAME of an environment variable "
                "(letters, digits, _), not the key itself; the value given is not shown"
            )


class Adapter(ABC):
    """A model provider. Subclasses set `name` and implement `generate`."""

    name: ClassVar[str] = ""
    capabilities: Capabilities = Capabilities()
    option_names: ClassVar[frozenset[str] | None] = None
    """The `--adapter-option` keys it reads; others are refused (None: it does not say)."""

    def __init__(self, model: str, options: AdapterOptions) -> None:
        self.model = model
        self.options = options

    async def start(self) -> None:
        """Open connections or start a server; raise `AdapterError` if unusable."""

    @abstractmethod
    async def generate(self, request: Request) -> Response:
        """Make one call. Raise `RetryableError` for failures worth another try."""

    async def close(self) -> None:
        """Release connections and servers."""

    def describe(self) -> dict[str, Any]:
        """What identifies this model for the run config and the cache (no secrets)."""
        return {"adapter": self.name, "model": self.model}


def check_options(adapter_class: type[Adapter], extra: dict[str, Any], flag: str) -> None:
    """Refuse option keys the adapter would ignore (a misspelt `paralel=4` does nothing)."""
    known = adapter_class.option_names
    unknown = sorted(set(extra) - known) if known is not None else []
    if unknown:
        listed = ", ".join(sorted(known or ())) or "none"
        raise ConfigError(
            f"unknown {flag} {', '.join(unknown)} for the {adapter_class.name} adapter "
            f"(its options: {listed})"
        )


def check_timeout(seconds: float, flag: str = "--timeout") -> None:
    """A request timeout must leave a request some time (0 or less fails every call)."""
    if not seconds > 0 or seconds == float("inf"):
        raise ConfigError(f"{flag} must be a number of seconds above 0, not {seconds:g}")
