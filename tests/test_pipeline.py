"""The pipeline and managed wrapper with the in-process fake adapter and a real SQLite file."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.adapters.base import GenerationParams, Request, Response
from harness.adapters.managed import ManagedAdapter, RetryPolicy
from harness.item import Item
from harness.pipeline import Pipeline
from harness.scorers.base import Example, Scorer, ScoreRecord
from harness.scorers.text import ExactMatch, TokenF1
from harness.store.db import ItemResult, Store, StoreCache
from harness.templates import PromptTemplate
from tests.fakes import FakeAdapter

FAST = RetryPolicy(max_retries=3, base_delay=0.001, max_delay=0.01)


def make_items(n: int) -> list[Item]:
    return [Item(id=f"i{k}", input=f"q{k}", references=(f"a{k}",), row=k + 1) for k in range(n)]


def run_pipeline(
    store: Store,
    adapter: FakeAdapter,
    items: list[Item],
    *,
    scorers: list[Scorer] | None = None,
    samples: int = 1,
    run_id: str = "r1",
    concurrency: int = 8,
    read_cache: bool = True,
) -> ManagedAdapter:
    writer = store.writer()  # the pipeline stores batches from its worker thread
    managed = ManagedAdapter(
        adapter,
        concurrency=concurrency,
        retry=FAST,
        cache=StoreCache(store, writer),
        read_cache=read_cache,
        seed=0,
    )
    pipeline = Pipeline(
        template=PromptTemplate.load(None),
        adapter=managed,
        params=GenerationParams(),
        scorers=scorers or [ExactMatch(), TokenF1()],
        samples=samples,
        sink=lambda batch: writer.write_results(run_id, batch),
        batch_size=4,
        flush_seconds=0.01,
    )
    asyncio.run(pipeline.run(items))
    return managed


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "h.db")
    store.create_run({"id": "r1", "name": "one", "status": "running", "created_at": "t"})
    return store


def count(store: Store, sql: str) -> int:
    return int(store.conn.execute(sql).fetchone()[0])


def test_every_item_stored_once_with_scores(store: Store) -> None:
    adapter = FakeAdapter()
    adapter.replies["i3"] = "wrong"
    run_pipeline(store, adapter, make_items(25))
    assert count(store, "SELECT count(*) FROM items") == 25
    assert count(store, "SELECT count(*) FROM responses") == 25
    assert count(store, "SELECT count(*) FROM scores WHERE metric='exact_match'") == 25
    assert count(store, "SELECT sum(value) FROM scores WHERE metric='exact_match'") == 24
    signature = store.conn.execute("SELECT signature FROM scores LIMIT 1").fetchone()[0]
    assert signature.startswith(("exact_match|", "token_f1|"))


def test_retries_until_success_and_counts_attempts(store: Store) -> None:
    adapter = FakeAdapter()
    adapter.failures = {"i0": 2, "i1": 1}
    managed = run_pipeline(store, adapter, make_items(5))
    attempts = dict(store.conn.execute("SELECT item_id, attempts FROM responses"))
    assert attempts["i0"] == 3 and attempts["i1"] == 2 and attempts["i2"] == 1
    assert managed.accounting.retries == 3
    assert count(store, "SELECT count(*) FROM responses WHERE error IS NOT NULL") == 0


def test_gives_up_after_max_retries_and_stores_the_error(store: Store) -> None:
    adapter = FakeAdapter()
    adapter.failures = {"i0": 100}
    adapter.permanent = {"i1"}
    run_pipeline(store, adapter, make_items(3))
    errors = dict(store.conn.execute("SELECT item_id, error FROM responses"))
    assert "gave up after 4 attempts" in errors["i0"]
    assert errors["i1"] == "HTTP 400: bad request"
    assert errors["i2"] is None
    # an errored response is not scored, never scored as 0
    assert count(store, "SELECT count(*) FROM scores WHERE item_id IN ('i0','i1')") == 0
    assert sum(1 for c in adapter.calls if c.item and c.item.id == "i1") == 1


class Misshapen(FakeAdapter):
    """A provider with a bug: a list as one item's text, text as another's token count."""

    async def generate(self, request: Request) -> Response:
        response = await super().generate(request)
        item_id = request.item.id if request.item else ""
        if item_id == "i1":
            response.text = [response.text]  # type: ignore[assignment]
        if item_id == "i2":
            response.prompt_tokens = "3"  # type: ignore[assignment]
        return response


def test_a_provider_reply_of_the_wrong_type_fails_only_its_item(store: Store) -> None:
    managed = run_pipeline(store, Misshapen(), make_items(6))
    errors = dict(store.conn.execute("SELECT item_id, error FROM responses"))
    assert len(errors) == 6 and errors["i0"] is None and errors["i5"] is None
    assert errors["i1"] == "the provider returned a list as the text"
    assert errors["i2"] == "the provider returned a str as prompt_tokens"
    assert managed.accounting.prompt_tokens == 3 * 4


def test_retry_after_is_a_floor_on_the_wait() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=1.0)
    rng = random.Random(1)
    assert all(policy.delay(0, 2.5, rng) >= 2.5 for _ in range(50))
    waits = [policy.delay(3, None, rng) for _ in range(200)]
    assert all(0.4 <= w <= 0.8 for w in waits)
    assert len({round(w, 6) for w in waits}) > 100  # jittered


def test_cache_means_no_second_call(store: Store) -> None:
    first = FakeAdapter()
    run_pipeline(store, first, make_items(6))
    store.create_run({"id": "r2", "name": "two", "status": "running", "created_at": "t"})
    second = FakeAdapter()
    managed = run_pipeline(store, second, make_items(6), run_id="r2")
    assert second.calls == []
    assert managed.accounting.cache_hits == 6
    assert count(store, "SELECT sum(cached) FROM responses WHERE run_id='r2'") == 6
    third = FakeAdapter()
    store.create_run({"id": "r3", "name": "three", "status": "running", "created_at": "t"})
    run_pipeline(store, third, make_items(6), run_id="r3", read_cache=False)
    assert len(third.calls) == 6


def test_samples_are_separate_requests_with_their_index(store: Store) -> None:
    adapter = FakeAdapter()
    run_pipeline(store, adapter, make_items(4), samples=3)
    assert sorted({c.sample for c in adapter.calls}) == [0, 1, 2]
    assert count(store, "SELECT count(*) FROM responses") == 12
    assert count(store, "SELECT count(*) FROM scores WHERE metric='exact_match'") == 12


def test_cancelled_run_keeps_finished_items_and_no_partial_ones(store: Store) -> None:
    adapter = FakeAdapter()
    adapter.delay = 0.01
    writer = store.writer()
    managed = ManagedAdapter(adapter, concurrency=4, retry=FAST, cache=StoreCache(store, writer))
    pipeline = Pipeline(
        template=PromptTemplate.load(None),
        adapter=managed,
        params=GenerationParams(),
        scorers=[ExactMatch()],
        samples=2,
        sink=lambda batch: writer.write_results("r1", batch),
        batch_size=4,
        flush_seconds=0.01,
    )

    async def interrupt() -> None:
        task = asyncio.create_task(pipeline.run(make_items(200)))
        await asyncio.sleep(0.15)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(interrupt())
    items = count(store, "SELECT count(*) FROM items")
    assert 0 < items < 200
    assert count(store, "SELECT count(*) FROM responses") == 2 * items


def test_a_cancel_that_comes_as_an_item_finishes_stops_the_run(store: Store) -> None:
    """The writer is woken as each item finishes; a cancel (Ctrl-C) arriving then must
    still stop the run (asyncio.wait_for on Python 3.11 swallowed it: the run went on)."""
    running: list[asyncio.Task[Any]] = []

    class Cancelling(FakeAdapter):
        async def generate(self, request: Request) -> Response:
            if len(self.calls) == 4:
                asyncio.get_running_loop().call_soon(running[0].cancel)
                await asyncio.sleep(5)
            return await super().generate(request)

    writer = store.writer()
    pipeline = Pipeline(
        template=PromptTemplate.load(None),
        adapter=ManagedAdapter(Cancelling(), concurrency=1, retry=FAST),
        params=GenerationParams(),
        scorers=[ExactMatch()],
        sink=lambda batch: writer.write_results("r1", batch),
    )

    async def interrupt() -> None:
        running.append(asyncio.create_task(pipeline.run(make_items(10))))
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(running[0], 3)

    asyncio.run(interrupt())
    assert count(store, "SELECT count(*) FROM items") == 4


class Exploding(Scorer):
    name = "exploding"

    def score(self, batch: list[Example]) -> list[ScoreRecord]:  # type: ignore[override]
        raise RuntimeError("scorer bug")


def test_a_failing_scorer_stops_the_run_instead_of_hanging(store: Store) -> None:
    with pytest.raises(RuntimeError, match="scorer bug"):
        run_pipeline(store, FakeAdapter(), make_items(300), scorers=[Exploding()], concurrency=2)


def test_rewriting_an_item_replaces_it(store: Store) -> None:
    item = make_items(1)[0]
    from harness.adapters.base import Response

    store.write_results("r1", [ItemResult(item, (), [Response(text=None, error="boom")])])
    assert not store.is_done("r1", "i0", retry_errors=True)
    assert store.is_done("r1", "i0")
    store.write_results("r1", [ItemResult(item, (), [Response(text="a0")])])
    assert count(store, "SELECT count(*) FROM responses") == 1
    assert store.is_done("r1", "i0", retry_errors=True)


def test_request_carries_seed_params_and_messages(store: Store) -> None:
    adapter = FakeAdapter()
    managed = ManagedAdapter(adapter, concurrency=2)
    params = GenerationParams(temperature=0.5, seed=7)
    request = Request(
        messages=({"role": "user", "content": "hi"},),
        params=params,
        sample=1,
        item=make_items(1)[0],
    )
    other = Request(messages=request.messages, params=params, sample=2, item=request.item)
    assert managed.cache_key(request) != managed.cache_key(other)


def test_extra_samples_can_use_their_own_settings(store: Store) -> None:
    adapter = FakeAdapter()
    managed = ManagedAdapter(adapter, concurrency=4, retry=FAST)
    writer = store.writer()
    pipeline = Pipeline(
        template=PromptTemplate.load(None),
        adapter=managed,
        params=GenerationParams(temperature=0.0),
        samples=3,
        sample_params=GenerationParams(temperature=1.0),
        sink=lambda batch: writer.write_results("r1", batch),
        flush_seconds=0.01,
    )
    asyncio.run(pipeline.run(make_items(2)))
    temperatures = {(c.sample, c.params.temperature) for c in adapter.calls}
    assert temperatures == {(0, 0.0), (1, 1.0), (2, 1.0)}


def test_stored_run_interval_stays_in_the_metric_range(store: Store) -> None:
    from harness.summary import aggregate_scores

    items = make_items(12)
    results = [
        ItemResult(
            item,
            (),
            [Response(text="x")],
            [("token_f1", "sig", ScoreRecord(item.id, 0, "token_f1", 1.0 if k else 0.4))],
        )
        for k, item in enumerate(items)
    ]
    store.create_run({"id": "r", "name": "r", "status": "completed", "created_at": "t",
                      "updated_at": "t", "n_items": 12, "config": "{}"})  # fmt: skip
    store.write_results("r", results)
    aggregate_scores(store, "r", [TokenF1()])
    (row,) = store.conn.execute(
        "SELECT value, ci_low, ci_high FROM run_metrics WHERE run_id = 'r'"
    ).fetchall()
    assert row[0] == pytest.approx(0.95) and row[2] == 1.0 and row[1] < 0.95


@pytest.mark.parametrize("failing", [{"i7"}, {f"i{k}" for k in range(20)}])
def test_an_unexpected_failure_stops_the_run_loudly_and_keeps_what_finished(
    store: Store, failing: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = store.writer()
    adapter = FakeAdapter()
    render = PromptTemplate.render

    def exploding(self: PromptTemplate, item: Item) -> Any:
        if item.id in failing:
            raise RuntimeError(f"cannot render {item.id}")
        return render(self, item)

    monkeypatch.setattr(PromptTemplate, "render", exploding)
    pipeline = Pipeline(
        template=PromptTemplate.load(None),
        adapter=ManagedAdapter(adapter, concurrency=4, retry=FAST, seed=0),
        params=GenerationParams(),
        scorers=[ExactMatch()],
        sink=lambda batch: writer.write_results("r1", batch),
        batch_size=4,
        flush_seconds=0.01,
    )

    async def bounded() -> None:
        await asyncio.wait_for(pipeline.run(make_items(20)), timeout=20)  # never a hang

    with pytest.raises(RuntimeError, match="cannot render"):
        asyncio.run(bounded())
    stored = count(store, "SELECT count(*) FROM items WHERE run_id = 'r1'")
    assert stored == count(store, "SELECT count(*) FROM responses WHERE run_id = 'r1'")
    assert stored == count(store, "SELECT count(*) FROM scores WHERE run_id = 'r1'")
    assert stored <= 20 - len(failing)
    writer.close()


@pytest.mark.parametrize(
    ("prediction", "reference", "exact", "f1"),
    [
        # values of the official SQuAD script's normalize_answer / f1_score
        ("The Eiffel Tower!", "eiffel tower", 1.0, 1.0),
        ("“Paris”", "Paris", 0.0, 0.0),  # curly quotes are not string.punctuation
        ("it’s the end", "its end", 0.0, 0.5),
        ("an apple, a pear", "apple pear", 1.0, 1.0),
        ("", "", 1.0, 1.0),  # SQuAD 2.0 counts empty against empty as a match
    ],
)
def test_exact_match_and_token_f1_follow_the_squad_script(
    prediction: str, reference: str, exact: float, f1: float
) -> None:
    example = Example(Item("a", "q", references=(reference,)), 0, prediction)
    assert ExactMatch().score([example])[0].value == exact
    assert TokenF1().score([example])[0].value == pytest.approx(f1)


class _Tracking(FakeAdapter):
    """Counts the calls in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.now = self.most = 0

    async def generate(self, request: Request) -> Response:
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            await asyncio.sleep(0.01)
            return await super().generate(request)
        finally:
            self.now -= 1


def test_calls_in_flight_never_exceed_the_concurrency(store: Store) -> None:
    adapter = _Tracking()
    run_pipeline(store, adapter, make_items(40), concurrency=3)
    assert adapter.most == 3 and len(adapter.calls) == 40


def test_the_wrapper_times_out_a_call_the_provider_never_ends() -> None:
    adapter = FakeAdapter()
    adapter.delay = 5.0
    managed = ManagedAdapter(
        adapter, concurrency=1, timeout=0.05, retry=RetryPolicy(max_retries=1, base_delay=0.0)
    )
    request = Request(messages=({"role": "user", "content": "hi"},), params=GenerationParams(),
                      item=make_items(1)[0])  # fmt: skip
    response = asyncio.run(managed.generate(request))
    assert response.text is None and "timed out after 0.05s" in (response.error or "")
    assert response.attempts == 2 and len(adapter.calls) == 2
    # a model on this machine is not asked again: it would only be as slow again
    adapter.capabilities = dataclasses.replace(adapter.capabilities, retry_timeouts=False)
    response = asyncio.run(managed.generate(request))
    assert response.attempts == 1 and len(adapter.calls) == 3
    assert "not retried" in (response.error or "")


def test_the_cache_key_changes_with_adapter_model_params_and_prompt() -> None:
    item = make_items(1)[0]
    base = Request(
        messages=({"role": "user", "content": "hi"},), params=GenerationParams(), item=item
    )

    def key(adapter: FakeAdapter, request: Request) -> str:
        return ManagedAdapter(adapter).cache_key(request)

    class Other(FakeAdapter):
        name = "other"

    same = key(FakeAdapter(), base)
    assert key(FakeAdapter(), base) == same
    assert key(FakeAdapter("another-model"), base) != same
    assert key(Other(), base) != same
    changed = [
        replace(base, params=GenerationParams(temperature=0.7)),
        replace(base, params=GenerationParams(max_tokens=5)),
        replace(base, messages=({"role": "user", "content": "hi!"},)),
        replace(base, messages=({"role": "system", "content": "x"}, *base.messages)),
    ]
    assert all(key(FakeAdapter(), r) != same for r in changed)


def test_the_public_schema_and_wal_mode(store: Store) -> None:
    """The README names these tables and columns as a public interface."""
    expected = {
        "runs": {"id", "name", "status", "model", "dataset", "config", "n_items"},
        "items": {"run_id", "item_id", "row", "input", "reference", "context", "metadata"},
        "responses": {"run_id", "item_id", "sample", "text", "error", "latency_ms",
                      "prompt_tokens", "completion_tokens", "finish_reason", "attempts", "cached"},
        "scores": {"run_id", "item_id", "sample", "scorer", "metric", "value", "label",
                   "details", "signature"},
        "run_metrics": {"run_id", "scorer", "metric", "value", "ci_low", "ci_high", "n",
                        "details", "signature"},
        "response_cache": {"key", "text"},
        "judgments": {"run_id", "item_id", "sample", "scorer", "mode", "versus", "judge",
                      "rubric", "repeat", "position_order", "score", "raw", "parsed_ok"},
        "judge_cache": {"key", "text"},
        "labels": {"run_id", "item_id", "annotator", "label_name", "value", "value_text",
                   "scale", "created_at", "source"},
    }  # fmt: skip
    for table, columns in expected.items():
        have = {row[1] for row in store.conn.execute(f"PRAGMA table_info({table})")}
        assert columns <= have, (table, columns - have)
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_items_of_a_run_deleted_while_running_are_not_stored(store: Store) -> None:
    from harness.errors import ConfigError

    with store.transaction() as conn:
        conn.execute("DELETE FROM runs WHERE id = 'r1'")
    item = make_items(1)[0]
    with pytest.raises(ConfigError, match="deleted while it was running"):
        store.write_results("r1", [ItemResult(item, (), [Response(text="a")])])
    assert count(store, "SELECT count(*) FROM items") == 0


def test_run_lookup_prefers_an_exact_id_and_names_an_ambiguous_reference(store: Store) -> None:
    from harness.errors import ConfigError

    for run_id, name in (("abcd1111aaaa", "first"), ("abcd2222bbbb", "abcd1111aaaa")):
        store.create_run({"id": run_id, "name": name, "status": "completed", "created_at": "t"})
    assert store.get_run("abcd1111aaaa")["name"] == "first"  # the id wins over a name
    assert store.get_run("first")["id"] == "abcd1111aaaa"
    assert store.get_run("abcd2")["id"] == "abcd2222bbbb"
    with pytest.raises(ConfigError, match="'abcd' names more than one run"):
        store.get_run("abcd")


def test_stored_json_is_always_valid_json() -> None:
    """Python writes inf/NaN as Infinity/NaN, which SQLite's JSON functions (and the
    judgments trigger) reject: they are stored as null."""
    import sqlite3

    from harness.store.db import dumps

    text = dumps({"t": float("inf"), "v": [1.5, float("nan")], "s": "x"})
    assert text == '{"s":"x","t":null,"v":[1.5,null]}'
    assert sqlite3.connect(":memory:").execute("SELECT json_valid(?)", [text]).fetchone() == (1,)


def test_run_figures_of_a_run_deleted_meanwhile_are_refused(store: Store) -> None:
    """`runs delete` while a resumed run works: its closing figures must leave no orphan
    run_metrics rows (write_results already refused its items)."""
    from harness.errors import ConfigError
    from harness.scorers.base import mean_metric
    from harness.store.db import dumps, now

    stamp = now()
    store.create_run({"id": "gone", "name": "gone", "status": "running", "created_at": stamp,
                      "updated_at": stamp, "config": dumps({})})  # fmt: skip
    store.delete_run("gone")
    with pytest.raises(ConfigError, match="deleted while it was running"):
        store.replace_run_metrics("gone", "exact_match", "sig", [mean_metric("m", [1.0, 0.0])])
    assert store.conn.execute("SELECT count(*) FROM run_metrics").fetchone() == (0,)
