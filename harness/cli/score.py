"""`harness score`: re-score a stored run without calling the model."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Annotated

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
from harness.errors import RunInterrupted
from harness.store.db import DEFAULT_DB


@contextmanager
def _interrupts() -> Iterator[Callable[[], bool]]:
    """Ctrl-C or SIGTERM stops the rescore: the first raises KeyboardInterrupt and is
    remembered (yielded: has one come?), so one that Python swallowed still stops the swap;
    a second quits at once (nothing was swapped in). A signal the caller ignores stays
    ignored."""
    received: list[int] = []

    def interrupt(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        if len(received) > 1:
            os.write(2, b"\ninterrupted again: quitting now; the run's scores are as they were\n")
            os._exit(130)
        raise KeyboardInterrupt

    with interrupts_handled(interrupt):
        yield lambda: bool(received)


def score(
    run: Annotated[str, typer.Argument(help="Run id or name.")],
    scorers: Annotated[
        list[str], typer.Option("--scorers", "-s", help="Comma-separated scorer names.")
    ],
    scorer_option: ScorerOption = None,
    toxicity_threshold: ToxicityThresholdOption = None,
    judge: JudgeOption = None,
    judge_repeats: JudgeRepeatsOption = 1,
    judge_temperature: JudgeTemperatureOption = 0.0,
    judge_seed: JudgeSeedOption = None,
    db: DbOption = DEFAULT_DB,
    json_output: JsonOption = False,
) -> None:
    """Score RUN's stored responses again (replacing those scorers' earlier scores)."""
    from harness.cli.render import print_summary
    from harness.rescore import rescore_run
    from harness.runner import judge_settings
    from harness.store.db import Store
    from harness.summary import run_summary

    store = Store.existing(db)
    try:
        with _interrupts() as stopped:
            run_id = rescore_run(
                store,
                run,
                split_names(scorers),
                scorer_options(scorer_option, toxicity_threshold, split_names(scorers)),
                judge=judge_settings(
                    split_names(judge), judge_repeats, judge_temperature, judge_seed, store.path
                ),
                stopped=stopped,
            )
        summary = run_summary(store, run_id)
    except KeyboardInterrupt:  # one line from main, as for an interrupted run
        raise RunInterrupted(f"interrupted: the scores of {run} are as they were") from None
    finally:
        store.close()
    if json_output:
        typer.echo(json.dumps(summary, indent=2, default=str))
    else:
        print_summary(summary)
