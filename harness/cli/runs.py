"""`harness runs list|show|delete`: the stored runs."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from harness.cli.options import DbOption, JsonOption
from harness.store.db import DEFAULT_DB

app = typer.Typer(help="List, show and delete stored runs.", no_args_is_help=True)


@app.command("list")
def list_runs(db: DbOption = DEFAULT_DB, json_output: JsonOption = False) -> None:
    """List runs, newest first."""
    from rich.markup import escape
    from rich.table import Table

    from harness.cli.render import console
    from harness.store.db import Store

    store = Store.existing(db)
    try:
        runs = store.list_runs()
        counts = dict(store.conn.execute("SELECT run_id, count(*) FROM items GROUP BY run_id"))
        failed = dict(
            store.conn.execute(
                "SELECT run_id, count(DISTINCT item_id) FROM responses WHERE error IS NOT NULL "
                "GROUP BY run_id"
            )
        )
    finally:
        store.close()
    rows = [
        {
            "run_id": r["id"],
            "name": r["name"],
            "status": r["status"],
            "model": r["model"],
            "dataset": r["dataset"],
            "items": counts.get(r["id"], 0),
            "failed_items": failed.get(r["id"], 0),
            "n_items": r["n_items"],
            "created_at": r["created_at"],
        }
        for r in runs
    ]
    if json_output:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"runs in {escape(str(db))}")
    for column in ("id", "name", "status", "model", "dataset", "items", "failed", "created"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            escape(str(row["run_id"])),
            escape(str(row["name"])),
            row["status"],
            escape(str(row["model"])),
            escape(str(row["dataset"])),
            f"{row['items']}/{row['n_items']}",
            str(row["failed_items"]),
            row["created_at"],
        )
    console.print(table)


@app.command("show")
def show(
    run: Annotated[str, typer.Argument(help="Run id or name.")],
    db: DbOption = DEFAULT_DB,
    json_output: JsonOption = False,
) -> None:
    """Show one run: metrics with 95% CIs, errors, latency and tokens."""
    from harness.cli.render import console, print_summary
    from harness.cli.review import print_human_agreement
    from harness.review.agreement_report import human_agreement
    from harness.store.db import Store
    from harness.summary import run_summary

    store = Store.existing(db)
    try:
        summary = run_summary(store, run)
        summary["config"] = json.loads(store.get_run(run)["config"])
        agreement = human_agreement(store, summary["run_id"])
        if agreement:
            summary["human_agreement"] = agreement
    finally:
        store.close()
    if json_output:
        typer.echo(json.dumps(summary, indent=2, default=str))
    else:
        print_summary(summary)
        if agreement:
            print_human_agreement(agreement, console)


@app.command("delete")
def delete(
    run: Annotated[str, typer.Argument(help="Run id or name.")],
    db: DbOption = DEFAULT_DB,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete a run and everything stored for it."""
    from harness.store.db import Store

    store = Store.existing(db)
    try:
        row = store.get_run(run)
        if not yes:
            typer.confirm(f"delete run {row['name']} ({row['id']})?", abort=True)
        store.delete_run(row["id"])
    finally:
        store.close()
    typer.echo(f"deleted {row['name']} ({row['id']})")
