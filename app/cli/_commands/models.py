from __future__ import annotations

import json

import click


@click.command("models")
@click.argument("pattern", required=False)
@click.option("--task", default=None, help="Only presets for this task (e.g. adding).")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def command(pattern: str | None, task: str | None, as_json: bool) -> None:
    """List the model zoo: family, task, parameters, inputs and the parameter-budget match.

    PATTERN is an fnmatch pattern on model names, e.g. 'ls*'."""
    from ortkit.models import describe_models
    from ortkit.models import get_task

    if task is not None:
        get_task(task)  # an unknown task is an error, not an empty table
    rows = describe_models(pattern, task)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"ortkit model zoo ({len(rows)} presets)")
    for col in ("model", "family", "task", "kind", "params", "inputs", "causal", "budget"):
        table.add_column(col, justify="right" if col == "params" else "left", no_wrap=True)
    for r in rows:
        b = r["budget"]
        budget = "-" if b is None else f"{b['difference']:+.1%} of {b['budget'] / 1000:g}k " + ("ok" if b["within_tolerance"] else "[red]off[/red]")
        table.add_row(r["model"], r["family"], r["task"], r["task_kind"], f"{r['parameters']:,}",
                      " ".join(f"{k}{v}" for k, v in r["inputs"].items()), "yes" if r["causal"] else "no", budget)
    console = Console()
    # Piped output has no terminal width; do not wrap rows into several lines there.
    (console if console.is_terminal else Console(width=150)).print(table)
    if not rows:
        click.echo(f"no model matches {pattern!r}", err=True)
