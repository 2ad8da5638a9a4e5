"""The streaming pipeline: items -> prompts -> model calls -> scorers -> store.

Bounded memory: at most `window` items are between the dataset and the store at any
time. Model calls run concurrently (the managed adapter bounds them); finished items
are scored and written in batches in a worker thread, one transaction per batch, so
the event loop keeps answering responses while a batch is stored. An item is stored
whole (item, every response, every score) or not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from harness.adapters.base import GenerationParams, Request, Response
from harness.adapters.managed import ManagedAdapter
from harness.item import Item
from harness.scorers.base import Example, Scorer, ScoreRecord
from harness.store.db import ItemResult
from harness.templates import PromptTemplate


@dataclass
class Tally:
    """What the pipeline has done so far; read by progress displays."""

    done: int = 0
    skipped: int = 0
    errors: int = 0
    tokens: int = 0


def examples_for(result: ItemResult, scorer: Scorer) -> list[Example]:
    """The examples a scorer sees for one item: each answered sample, or, for a per-item
    scorer, sample 0 (the main response) alone, and nothing where sample 0 failed."""
    answered = [
        (sample, r.text)
        for sample, r in enumerate(result.responses)
        if r.error is None and r.text is not None
    ]
    texts = tuple(text for _, text in answered)
    numbers = tuple(sample for sample, _ in answered)
    if scorer.per_item:
        answered = answered[:1] if numbers[:1] == (0,) else []
    return [Example(result.item, sample, text, texts, numbers) for sample, text in answered]


def _finite(record: ScoreRecord) -> ScoreRecord:
    """A NaN or infinite value is stored unscored, with the reason, never as a number."""
    if record.value is None or math.isfinite(record.value):
        return record
    details = {**(record.details or {}), "error": f"the scorer gave {record.value}"}
    return replace(record, value=None, label=None, details=details)


def score_results(results: Sequence[ItemResult], scorers: Sequence[Scorer]) -> None:
    """Run every scorer over a batch of results and attach the records to them."""
    by_id = {result.item.id: result for result in results}
    for scorer in scorers:
        batch = [e for result in results for e in examples_for(result, scorer)]
        if not batch:
            continue
        signature = scorer.signature()
        for record in scorer(batch):
            by_id[record.item_id].scores.append((scorer.name, signature, _finite(record)))


class Pipeline:
    """Runs items through one adapter and the scorers into a sink."""

    def __init__(
        self,
        *,
        template: PromptTemplate,
        adapter: ManagedAdapter,
        params: GenerationParams,
        scorers: Sequence[Scorer] = (),
        samples: int = 1,
        sample_params: GenerationParams | None = None,
        sink: Callable[[list[ItemResult]], None],
        skip: Callable[[Item], bool] | None = None,
        batch_size: int = 64,
        flush_seconds: float = 0.5,
        on_progress: Callable[[Tally], None] | None = None,
    ) -> None:
        self.template = template
        self.adapter = adapter
        self.params = params
        self.scorers = list(scorers)
        self.samples = samples
        self.sample_params = sample_params or params
        """Settings for samples after the first (e.g. a higher temperature for SelfCheck)."""
        self.sink = sink
        """Stores a batch; called from a worker thread, one batch at a time."""
        self.skip = skip
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        self.on_progress = on_progress
        self.window = adapter.concurrency + 2 * batch_size
        self.tally = Tally()
        self._finished: list[ItemResult] = []
        self._wake = asyncio.Event()
        self._producing = False
        self._storing: asyncio.Future[None] | None = None
        self._failure: BaseException | None = None

    async def run(self, items: Iterable[Item]) -> Tally:
        """Process every item not skipped; on cancellation, store what finished first."""
        slots = asyncio.Semaphore(self.window)
        in_flight: set[asyncio.Task[None]] = set()
        self._producing = True
        writer = asyncio.create_task(self._write_loop(slots, in_flight))
        try:
            for item in items:
                if self.skip is not None and self.skip(item):
                    self.tally.skipped += 1
                    continue
                await self._acquire(slots, writer)
                task = asyncio.create_task(self._process(item))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            self._producing = False
            self._wake.set()
            await writer
        except BaseException:
            writer.cancel()
            for task in list(in_flight):
                task.cancel()
            await asyncio.gather(*in_flight, writer, return_exceptions=True)
            if self._storing is not None:  # a batch being stored commits (or not) whole
                await asyncio.wait({self._storing})
            self._flush()  # keep what already finished
            raise
        return self.tally

    @staticmethod
    async def _acquire(slots: asyncio.Semaphore, writer: asyncio.Task[None]) -> None:
        """Wait for room in the window, but stop at once if the writer failed."""
        if writer.done():
            writer.result()  # raises the writer's error
        if not slots.locked():
            await slots.acquire()
            return
        waiting = asyncio.ensure_future(slots.acquire())
        await asyncio.wait({waiting, writer}, return_when=asyncio.FIRST_COMPLETED)
        if not waiting.done():
            waiting.cancel()
            writer.result()  # raises the writer's error

    async def _process(self, item: Item) -> None:
        """One item's responses, or the failure that stops the run (never lost silently:
        the writer raises it, and what finished before is still stored)."""
        try:
            await self._respond(item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if self._failure is None:
                self._failure = exc
            self._wake.set()

    async def _respond(self, item: Item) -> None:
        messages = self.template.render(item)
        requests = [
            Request(
                messages=messages,
                params=self.sample_params if sample else self.params,
                sample=sample,
                item=item,
            )
            for sample in range(self.samples)
        ]
        responses: list[Response]
        if len(requests) == 1:  # the common case: no gather, so no extra task per item
            responses = [await self.adapter.generate(requests[0])]
        else:
            responses = list(await asyncio.gather(*(self.adapter.generate(r) for r in requests)))
        self._finished.append(ItemResult(item, messages, responses))
        if len(self._finished) >= self.batch_size or not self._producing:
            self._wake.set()

    async def _write_loop(
        self, slots: asyncio.Semaphore, in_flight: set[asyncio.Task[None]]
    ) -> None:
        last = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_seconds)
            _raise_if_cancelled()  # Python 3.11's wait_for can swallow a cancel (Ctrl-C)
            self._wake.clear()
            if self._failure is not None:
                raise self._failure
            done = not self._producing and not in_flight
            due = time.monotonic() - last >= self.flush_seconds
            if self._finished and (len(self._finished) >= self.batch_size or due or done):
                batch, self._finished = self._finished, []
                self._storing = asyncio.ensure_future(asyncio.to_thread(self._store, batch))
                await asyncio.shield(self._storing)  # a cancelled run still lets it finish
                self._storing = None
                self._count(batch)
                for _ in batch:
                    slots.release()
                last = time.monotonic()
            if done and not self._finished:
                return

    def _flush(self) -> None:
        """Score and store whatever finished, synchronously (used on interruption)."""
        batch, self._finished = self._finished, []
        if batch:
            self._store(batch)
            self._count(batch)

    def _store(self, batch: list[ItemResult]) -> None:
        score_results(batch, self.scorers)
        self.sink(batch)

    def _count(self, batch: list[ItemResult]) -> None:
        tally = self.tally
        tally.done += len(batch)
        for result in batch:
            tally.errors += result.failed
            tally.tokens += sum(
                (r.prompt_tokens or 0) + (r.completion_tokens or 0) for r in result.responses
            )
        if self.on_progress is not None:
            self.on_progress(tally)


def _raise_if_cancelled() -> None:
    """Raise the cancel of this task that a wait returned over: on Python 3.11,
    `asyncio.wait_for` returns the result when a cancel arrives as the awaited event is
    set, and the run would carry on past a Ctrl-C. (`asyncio.timeout` keeps the cancel,
    but made every run at concurrency 64 half a second slower.)"""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
