"""One evaluation run, end to end: check everything, then stream, store and summarise.

Every check that can fail on bad input runs before the run is created, so a bad
dataset, template, adapter or scorer never leaves a half-written run behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import platform
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from harness import __version__, registry
from harness.adapters.base import (
    Adapter,
    AdapterOptions,
    GenerationParams,
    check_options,
    check_timeout,
)
from harness.adapters.managed import ManagedAdapter, RetryPolicy
from harness.data import FieldMapping, Need, open_dataset
from harness.errors import ConfigError, RunInterrupted
from harness.pipeline import Pipeline, Tally
from harness.scorer_setup import close_scorers, fit_corpus, make_scorers, start_scorers
from harness.scorers.base import Scorer
from harness.store.db import Store, StoreCache, dumps, now
from harness.summary import finalize_run, interrupt_run
from harness.templates import PromptTemplate


@dataclass
class RunOptions:
    """Everything `harness run` takes, as a library call."""

    dataset: str
    model: str = "local"
    mapping: FieldMapping = field(default_factory=FieldMapping)
    split: str | None = None
    limit: int | None = None
    template: str | None = None
    system: str | None = None
    scorers: Sequence[str] = ()
    scorer_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    samples: int = 1
    sample_temperature: float | None = None
    """Temperature of samples after the first (None: the same as the first)."""
    params: GenerationParams = field(default_factory=GenerationParams)
    concurrency: int = 16
    timeout: float = 60.0
    max_retries: int = 6
    cache: bool = True
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    adapter_options: dict[str, Any] = field(default_factory=dict)
    db: Path = Path("runs/harness.db")
    name: str | None = None
    resume: bool = False
    retry_errors: bool = False
    batch_size: int = 64
    judges: Sequence[str] = ()
    """Judge adapters for judge scorers (`--judge`); empty: each scorer's default."""
    judge_repeats: int = 1
    judge_temperature: float = 0.0
    judge_seed: int | None = None


def continue_flag(options: RunOptions) -> str:
    """The flag that continues what a run was doing when it stopped: `--retry-errors`
    when it was redoing failed items (`--resume` would redo none of them)."""
    return "--retry-errors" if options.retry_errors else "--resume"


def parse_model_spec(spec: str) -> tuple[str, str]:
    """'openai:gpt-4o' -> ('openai', 'gpt-4o'); 'local' -> ('local', '')."""
    name, _, argument = spec.partition(":")
    if not name:
        raise ConfigError(f"bad --model '{spec}': use NAME or NAME:ARGUMENT, e.g. openai:gpt-4o")
    return name, argument


def make_adapter(spec: str, options: AdapterOptions) -> Adapter:
    name, argument = parse_model_spec(spec)
    adapter_class = registry.load(registry.ADAPTER_GROUP, name)
    check_options(adapter_class, options.extra, "--adapter-option")
    adapter: Adapter = adapter_class(argument, options)
    return adapter


def parse_value(raw: str) -> Any:
    """A command-line value: JSON when it parses (numbers, true/false, lists), else text."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def parse_adapter_options(values: Sequence[str]) -> dict[str, Any]:
    """['parallel=4', 'threads=1'] -> {'parallel': 4, 'threads': 1}."""
    options: dict[str, Any] = {}
    for value in values:
        key, equals, raw = value.partition("=")
        if not equals or not key:
            raise ConfigError(f"bad --adapter-option '{value}': use KEY=VALUE")
        options[key] = parse_value(raw)
    return options


def parse_scorer_options(values: Sequence[str]) -> dict[str, dict[str, Any]]:
    """['bleu.tokenize=intl', 'rouge.use_stemmer=true'] -> {'bleu': {'tokenize': 'intl'}, ...}.

    Values are read as JSON when they parse (numbers, true/false, lists), else as text.
    """
    options: dict[str, dict[str, Any]] = {}
    for value in values:
        target, equals, raw = value.partition("=")
        scorer, dot, key = target.partition(".")
        if not equals or not dot or not scorer or not key:
            raise ConfigError(f"bad --scorer-option '{value}': use SCORER.KEY=VALUE")
        options.setdefault(scorer, {})[key] = parse_value(raw)
    return options


def judge_settings(
    judges: Sequence[str],
    repeats: int = 1,
    temperature: float = 0.0,
    seed: int | None = None,
    db: Path | None = None,
    *,
    cache: bool = True,
) -> dict[str, Any]:
    """The judge options (`--judge`, `--judge-repeats`, ...) given to scorers that judge;
    the run's `--no-cache` holds for its judges too (no cached verdict is read)."""
    settings: dict[str, Any] = {"cache_db": str(db)} if db is not None else {}
    if not cache:
        settings["cache"] = False
    if judges:
        settings["judges"] = list(judges)
    if repeats != 1:
        settings["repeats"] = repeats
    if temperature != 0.0:
        settings["temperature"] = temperature
    if seed is not None:
        settings["seed"] = seed
    return settings


def package_versions() -> dict[str, str]:
    versions = {"harness": __version__, "python": platform.python_version()}
    for package in ("openai", "datasets", "sqlite-utils", "xllamacpp"):
        with contextlib.suppress(PackageNotFoundError):
            versions[package] = version(package)
    return versions


def git_revision() -> str | None:
    """The harness checkout's commit, when it runs from one."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except OSError:
        return None
    return out.stdout.strip() or None


@contextlib.contextmanager
def fewer_gc_pauses() -> Iterator[None]:
    """Move start-up objects out of the collector's way and collect young objects less often.

    Every model call allocates many short-lived objects; with the default thresholds the
    cyclic collector keeps re-walking the imported libraries, about 10% of CPU per call.
    """
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _need(field: str, scorers: Sequence[Scorer]) -> Need:
    """Who needs an item field; the options that would do without it only where every
    one of them has such an option."""
    needing = [s for s in scorers if field in s.requires]
    instead = [s.instead_of(field) for s in needing]
    return Need(
        tuple(s.name for s in needing),
        tuple(i for i in instead if i) if all(instead) else (),
    )


def sample_parameters(options: RunOptions) -> GenerationParams | None:
    """Generation settings of samples 1..n where `--sample-temperature` sets them apart."""
    if options.sample_temperature is None:
        return None
    return replace(options.params, temperature=options.sample_temperature)


def _identity(config: dict[str, Any]) -> dict[str, Any]:
    """The parts of a config that must match for a run to be resumed: the dataset's rows
    and how its fields are read (ids, inputs, references), the prompt, model, settings and
    scorers."""
    dataset = config.get("dataset") or {}
    identity = {"field_mapping": dataset.get("mapping"), "split": dataset.get("split")}
    keys = (
        "dataset_fingerprint",
        "template_hash",
        "model",
        "params",
        "samples",
        "sample_params",
        "scorers",
    )
    return identity | {key: config.get(key) for key in keys}


def _differences(stored: dict[str, Any], now: dict[str, Any]) -> dict[str, str]:
    """The parts that differ, each with its name for the user; for a part that is a mapping
    (the model's identity: spec, base URL, ...), which of its keys: `model (base_url)`."""
    names = {}
    for key, value in now.items():
        old = stored.get(key)
        if old == value:
            continue
        names[key] = key
        if isinstance(old, dict) and isinstance(value, dict):
            keys = sorted(k for k in old.keys() | value.keys() if old.get(k) != value.get(k))
            if keys != [key]:
                names[key] = f"{key} ({', '.join(keys)})"
    return names


async def execute(
    options: RunOptions, on_progress: Callable[[Tally, int], None] | None = None
) -> dict[str, Any]:
    """Run an evaluation and return the stored run row (with its final status)."""
    check_timeout(options.timeout)
    adapter_options = AdapterOptions(
        base_url=options.base_url,
        api_key_env=options.api_key_env,
        request_timeout=options.timeout,
        extra=options.adapter_options,
    )
    adapter = make_adapter(options.model, adapter_options)
    scorers = make_scorers(
        options.scorers,
        options.scorer_options,
        judge_settings(
            options.judges,
            options.judge_repeats,
            options.judge_temperature,
            options.judge_seed,
            options.db,
            cache=options.cache,
        ),
    )
    template = PromptTemplate.load(options.template, options.system)
    dataset = open_dataset(
        options.dataset, options.mapping, split=options.split, limit=options.limit
    )
    needs = set().union(*(s.requires for s in scorers)) if scorers else set()
    replay_field = getattr(adapter, "field", None)
    if replay_field is not None and replay_field not in dataset.columns:
        raise ConfigError(
            f"{options.dataset}: no column '{replay_field}' to replay; "
            f"columns: {', '.join(dataset.columns)}"
        )
    if replay_field is not None:
        mapping = dataset.mapping
        roles = {mapping.input: "input", mapping.context: "context", mapping.id: "id"}
        roles.update({name: "reference" for name in mapping.references})
        if replay_field in roles:
            role = roles[replay_field]
            raise ConfigError(
                f"{options.dataset}: column '{replay_field}' is read as the {role}, so it "
                f"cannot also be the replayed response; name the {role} column with "
                f"--{role}-field, or replay another column"
            )
    template.check(dataset.fields())
    needed = max((scorer.min_samples for scorer in scorers), default=1)
    if needed > options.samples:
        raise ConfigError(f"the scorers need --samples {needed} or more (got {options.samples})")
    needed_by = {need: _need(need, scorers) for need in needs}
    check = getattr(adapter, "check_column", None)  # a replayed column's cells
    info = dataset.validate(
        needs=needed_by,
        placeholders=template.placeholders(),
        checks={replay_field: check} if replay_field is not None and check else None,
    )
    fit_corpus(scorers, (item.references for item in dataset))
    sample_params = sample_parameters(options)
    config = {
        "dataset": dataset.describe(),
        "dataset_fingerprint": info.fingerprint,
        "n_rows": info.n_rows,
        "template": template.to_dict(),
        "template_hash": template.hash,
        "model": adapter.describe(),
        "params": options.params.to_dict(),
        "samples": options.samples,
        "sample_params": sample_params.to_dict() if sample_params is not None else None,
        "scorers": {s.name: s.signature() for s in scorers},
        "scorer_options": options.scorer_options,
        "concurrency": options.concurrency,
        "timeout": options.timeout,
        "max_retries": options.max_retries,
        "cache": options.cache,
    }
    store = Store(options.db)
    try:
        run_id = _prepare_run(store, options, config)
        try:
            await adapter.start()
            await asyncio.to_thread(start_scorers, scorers)
            run = await _stream(
                store,
                run_id,
                options,
                config,
                adapter,
                template,
                scorers,
                dataset,
                info.n_rows,
                on_progress,
            )
        except BaseException:
            await close_fully(adapter)
            raise
        if await close_fully(adapter):  # a Ctrl-C after the run ended: it stays completed
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        return run
    finally:
        close_scorers(scorers)
        store.close()


async def close_fully(adapter: Adapter) -> bool:
    """Close the adapter to the end even when a cancel (a late Ctrl-C) arrives meanwhile:
    an aborted close would leave client sessions open. Returns whether one arrived."""
    closing = asyncio.ensure_future(adapter.close())
    cancelled = False
    while True:
        try:
            await asyncio.shield(closing)
            return cancelled
        except asyncio.CancelledError:
            if closing.cancelled():
                raise
            cancelled = True


def _prepare_run(store: Store, options: RunOptions, config: dict[str, Any]) -> str:
    """Check a resumed run matches, or make sure a new name is free. Writes nothing."""
    if options.name is not None:
        existing = store.run_named(options.name)
        taken = store.conn.execute("SELECT 1 FROM runs WHERE id = ?", [options.name]).fetchone()
        if existing is None and taken:
            raise ConfigError(f"--name {options.name} is another run's id: choose another name")
        if existing is not None:
            if not options.resume:
                raise ConfigError(
                    f"a run named '{options.name}' exists; add --resume to continue it "
                    "or choose another --name"
                )
            stored = json.loads(existing["config"])
            differs = _differences(_identity(stored), _identity(config))
            if list(differs) == ["scorers"]:
                now = ",".join(sorted(stored.get("scorers") or {}))
                raise ConfigError(
                    f"cannot resume '{options.name}': its scorers are now {now} (`harness "
                    f"score` may have changed them); resume with --scorers {now} and the "
                    "same scorer options"
                )
            if differs:
                changed = ", ".join(differs.values())
                raise ConfigError(
                    f"cannot resume '{options.name}': {changed} changed since it started; "
                    "start a new run with another --name"
                )
            return str(existing["id"])
    if options.resume and options.name is not None:
        raise ConfigError(
            f"{continue_flag(options)}: no run named '{options.name}' in {options.db} to continue "
            "(`harness runs list` lists them); without it a new run starts"
        )
    if options.resume:
        raise ConfigError("--resume needs --name of the run to continue")
    return ""


async def _stream(
    store: Store,
    run_id: str,
    options: RunOptions,
    config: dict[str, Any],
    adapter: Adapter,
    template: PromptTemplate,
    scorers: list[Scorer],
    dataset: Any,
    total: int,
    on_progress: Callable[[Tally, int], None] | None,
) -> dict[str, Any]:
    if not run_id:
        run_id = uuid.uuid4().hex[:12]
        stamp = now()
        store.create_run(
            {
                "id": run_id,
                "name": options.name or f"{Path(options.dataset).stem}-{run_id[:6]}",
                "status": "running",
                "created_at": stamp,
                "updated_at": stamp,
                "model": options.model,
                "dataset": options.dataset,
                "dataset_fingerprint": config["dataset_fingerprint"],
                "template_hash": config["template_hash"],
                "n_items": total,
                "config": dumps(config),
                "versions": dumps(package_versions()),
                "git_revision": git_revision(),
            }
        )
    else:  # the stats of the last session no longer hold: shown live until this one ends
        store.update_run(run_id, status="running", stats=None)
    writer = store.writer()  # batches are stored from the pipeline's worker thread
    managed = ManagedAdapter(
        adapter,
        concurrency=options.concurrency,
        timeout=options.timeout,
        retry=RetryPolicy(max_retries=options.max_retries),
        cache=StoreCache(store, writer),
        read_cache=options.cache,
    )
    resuming = options.resume

    def skip(item: Any) -> bool:
        return resuming and store.is_done(run_id, item.id, retry_errors=options.retry_errors)

    pipeline = Pipeline(
        template=template,
        adapter=managed,
        params=options.params,
        scorers=scorers,
        samples=options.samples,
        sample_params=sample_parameters(options),
        sink=lambda batch: writer.write_results(run_id, batch),
        skip=skip,
        batch_size=options.batch_size,
        on_progress=(lambda tally: on_progress(tally, total)) if on_progress else None,
    )
    if on_progress is not None:
        on_progress(pipeline.tally, total)  # show the total before the first batch lands
    started = time.perf_counter()
    try:
        with fewer_gc_pauses():
            tally = await pipeline.run(dataset)
    except (asyncio.CancelledError, KeyboardInterrupt) as exc:
        interrupt_run(store, run_id, scorers, managed.accounting)
        name = store.get_run(run_id)["name"]
        raise RunInterrupted(
            f"interrupted: {store.count_items(run_id)} of {total} items stored; to continue, "
            f"run the same command with --name {name} {continue_flag(options)}"
        ) from exc
    except BaseException:
        store.update_run(run_id, status="failed")
        raise
    finally:
        writer.close()
    elapsed = time.perf_counter() - started
    timing = {"elapsed_s": elapsed, "items_per_s": tally.done / elapsed if elapsed else None}
    finalize_run(store, run_id, scorers, managed.accounting, timing)
    return store.get_run(run_id)
