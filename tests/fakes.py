"""An in-process fake provider with canned replies and a call history, for unit tests."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from harness.adapters.base import Adapter, AdapterOptions, Capabilities, Request, Response
from harness.errors import PermanentError, RetryableError


class FakeAdapter(Adapter):
    """Answers each item with `replies[item.id]` (default: the reference, else 'ok').

    `failures[item.id] = k` makes the first k calls for that item raise a retryable error;
    `permanent` ids always fail for good. Every call is recorded in `calls`.
    """

    name = "fake"
    capabilities = Capabilities(max_concurrency=256)
    instances: ClassVar[list[FakeAdapter]] = []
    failing_ids: ClassVar[set[str]] = set()
    """Ids that new instances fail for good (set by CLI tests, which cannot reach the instance)."""
    failing_samples: ClassVar[set[int]] = set()
    """Sample numbers that every instance fails for good."""

    def __init__(self, model: str = "", options: AdapterOptions | None = None) -> None:
        super().__init__(model or "fake-model", options or AdapterOptions())
        self.replies: dict[str, str] = {}
        self.failures: dict[str, int] = {}
        self.permanent: set[str] = set(FakeAdapter.failing_ids)
        self.retry_after: float | None = None
        self.delay = 0.0
        self.calls: list[Request] = []
        self.started = self.closed = False
        FakeAdapter.instances.append(self)

    async def start(self) -> None:
        self.started = True

    async def generate(self, request: Request) -> Response:
        self.calls.append(request)
        item = request.item
        assert item is not None
        if self.delay:
            await asyncio.sleep(self.delay)
        if item.id in self.permanent or request.sample in FakeAdapter.failing_samples:
            raise PermanentError("HTTP 400: bad request")
        if self.failures.get(item.id, 0) > 0:
            self.failures[item.id] -= 1
            raise RetryableError("HTTP 500: injected", retry_after=self.retry_after)
        text = self.replies.get(item.id, item.references[0] if item.references else "ok")
        return Response(text=text, prompt_tokens=3, completion_tokens=len(text.split()))

    async def close(self) -> None:
        self.closed = True

    def describe(self) -> dict[str, Any]:
        return {"adapter": self.name, "model": self.model}
