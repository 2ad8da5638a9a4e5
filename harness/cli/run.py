"""`harness run`: evaluate a dataset against a model and store every item."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Coroutine
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, TypeVar

import typer

from harness.cli.judge import (
    JudgeOption,
    JudgeRepeatsOption,
    JudgeSeedOption,
    JudgeTemperatureOption,
)
from harness.cli.options import (
    DbOption,
    JsonOption,
    ScorerOption,
    ToxicityThresholdOption,
    scorer_options,
    split_names,
)
from harness.cli.signals import interrupts_handled
from harness.store.db import DEFAULT_DB

T = TypeVar("T")


def run(
    dataset: Annotated[
        str,
        typer.Argument(
            help="A .jsonl/.json/.csv/.parquet file, folder or glob, or a cached HF dataset."
        ),
    ],
    model: Annotated[
        str,
        typer.Option(
            "--model", "-m", help="openai:MODEL, local[:GGUF], replay:FIELD or replay:FILE."
        ),
    ] = "local",
    scorers: Annotated[
        list[str] | None, typer.Option("--scorers", "-s", help="Comma-separated scorer names.")
    ] = None,
    scorer_option: ScorerOption = None,
    toxicity_threshold: ToxicityThresholdOption = None,
    template: Annotated[
        str | None,
        typer.Option(
            help="Prompt template: a file (.yaml with prompt/system, or text) or inline "
            "text with {{field}} placeholders."
        ),
    ] = None,
    system: Annotated[str | None, typer.Option(help="System prompt.")] = None,
    input_field: Annotated[str | None, typer.Option(help="Column holding the prompt.")] = None,
    reference_field: Annotated[
        list[str] | None,
        typer.Option(help="Column(s) holding reference answers (repeat or comma-separate)."),
    ] = None,
    context_field: Annotated[str | None, typer.Option(help="Column holding context.")] = None,
    id_field: Annotated[str | None, typer.Option(help="Column holding item ids.")] = None,
    split: Annotated[str | None, typer.Option(help="Dataset split (default train).")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N rows.", min=1)] = None,
    samples: Annotated[int, typer.Option(help="Responses per item.", min=1)] = 1,
    sample_temperature: Annotated[
        float | None,
        typer.Option(help="Temperature of samples after the first (e.g. 1.0).", min=0),
    ] = None,
    temperature: Annotated[float, typer.Option(min=0.0)] = 0.0,
    max_tokens: Annotated[int, typer.Option(min=1)] = 256,
    top_p: Annotated[float | None, typer.Option(min=0.0, max=1.0)] = None,
    seed: Annotated[int | None, typer.Option(help="Sampling seed (sample k uses seed+k).")] = None,
    stop: Annotated[list[str] | None, typer.Option(help="Stop sequence (repeatable).")] = None,
    base_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible base URL (default $OPENAI_BASE_URL).")
    ] = None,
    api_key_env: Annotated[
        str, typer.Option(help="Environment variable holding the API key.")
    ] = "OPENAI_API_KEY",
    adapter_option: Annotated[
        list[str] | None,
        typer.Option(help="Adapter setting KEY=VALUE, e.g. parallel=4 for local (repeatable)."),
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Requests in flight.", min=1)] = 16,
    timeout: Annotated[float, typer.Option(help="Seconds per request.")] = 60.0,
    max_retries: Annotated[int, typer.Option(help="Retries per request.", min=0)] = 6,
    no_cache: Annotated[
        bool,
        typer.Option(
            "--no-cache", help="Call the model (and judges) even when a cached answer exists."
        ),
    ] = False,
    name: Annotated[str | None, typer.Option(help="Run name (needed for --resume).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run named by --name.")] = False,
    retry_errors: Annotated[
        bool,
        typer.Option(
            help="Continue the run named by --name (as --resume), redoing the items whose "
            "model call ended in an error (unscored items are redone by `harness score`).",
        ),
    ] = False,
    judge: JudgeOption = None,
    judge_repeats: JudgeRepeatsOption = 1,
    judge_temperature: JudgeTemperatureOption = 0.0,
    judge_seed: JudgeSeedOption = None,
    db: DbOption = DEFAULT_DB,
    json_output: JsonOption = False,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
) -> None:
    """Evaluate DATASET against a model, score every response, and store it all."""
    from harness.adapters.base import GenerationParams
    from harness.cli.render import err_console, print_summary, run_progress
    from harness.data import FieldMapping
    from harness.runner import (
        RunOptions,
        continue_flag,
        execute,
        parse_adapter_options,
    )
    from harness.store.db import Store
    from harness.summary import run_summary

    options = RunOptions(
        dataset=dataset,
        model=model,
        mapping=FieldMapping(
            input=input_field,
            references=tuple(split_names(reference_field)),
            context=context_field,
            id=id_field,
        ),
        split=split,
        limit=limit,
        template=template,
        system=system,
        scorers=split_names(scorers),
        scorer_options=scorer_options(scorer_option, toxicity_threshold, split_names(scorers)),
        samples=samples,
        sample_temperature=sample_temperature,
        params=GenerationParams(
            temperature=temperature,
            max_tokens=max_tokens,
            top_p=top_p,
            seed=seed,
            stop=tuple(stop or ()),
        ),
        concurrency=concurrency,
        timeout=timeout,
        max_retries=max_retries,
        cache=not no_cache,
        base_url=base_url,
        api_key_env=api_key_env,
        adapter_options=parse_adapter_options(adapter_option or []),
        db=Path(db),
        name=name,
        resume=resume or retry_errors,
        retry_errors=retry_errors,
        judges=split_names(judge),
        judge_repeats=judge_repeats,
        judge_temperature=judge_temperature,
        judge_seed=judge_seed,
    )
    with run_progress(progress and err_console.is_terminal) as on_progress:
        run_row = _run_interruptibly(execute(options, on_progress), continue_flag(options))
    store = Store(db)
    try:
        summary = run_summary(store, run_row["id"])
    finally:
        store.close()
    if json_output:
        typer.echo(json.dumps(summary, indent=2, default=str))
    else:
        print_summary(summary)
    items, failed = summary["stats"].get("items") or 0, summary["stats"].get("failed_items") or 0
    if failed:
        err_console.print(
            f"{failed} of {items} items ended in an error; redo only those with "
            f"--name {summary['name']} --retry-errors",
            markup=False,
            soft_wrap=True,
        )
    if summary["status"] == "failed":
        sys.exit(1)  # no main response: a script must not take this run for a result


def _run_interruptibly(coroutine: Coroutine[Any, Any, T], flag: str = "--resume") -> T:
    """Run the evaluation; the first Ctrl-C (or SIGTERM, as sent by `timeout`, containers
    and CI) cancels it, so what finished is stored and the run is marked interrupted. A
    second one while that cleanup runs quits at once: every stored item is committed
    already, so nothing is lost, and `flag` (`--resume`, or `--retry-errors` for a run
    that was redoing failed items) continues the run as after a kill."""
    main: list[tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]]] = []
    interrupts = 0

    async def tracked() -> T:
        task = asyncio.current_task()
        assert task is not None
        main.append((asyncio.get_running_loop(), task))
        return await coroutine

    def interrupt(signum: int, frame: FrameType | None) -> None:
        nonlocal interrupts
        interrupts += 1
        if not main:
            raise KeyboardInterrupt
        if interrupts == 1:
            loop, task = main[0]
            if not task.done():  # once done, the run has ended: nothing left to stop
                loop.call_soon_threadsafe(task.cancel)
            return
        show_cursor = b"\x1b[?25h" if os.isatty(2) else b""  # a progress bar hid it
        os.write(  # not sys.stderr: the main thread may be inside a write to it
            2,
            show_cursor
            + b"\ninterrupted again: quitting now; every item stored so far is kept, and "
            b"`harness runs list` names the run to continue with --name NAME "
            + flag.encode()
            + b"\n",
        )
        os._exit(130)

    with interrupts_handled(interrupt) as handled:
        if not handled:
            return asyncio.run(coroutine)
        try:
            return asyncio.run(tracked())
        except asyncio.CancelledError:
            if interrupts:  # cancelled before the run could record the interruption
                raise KeyboardInterrupt from None
            raise
