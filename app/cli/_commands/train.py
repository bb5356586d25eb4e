from __future__ import annotations

import json
from typing import Any

import click

from ortkit.cli._options import deprecated


@click.command("train")
@click.argument("model")
@click.option("--task", required=True, help="Task name: adding, seq-digits, digits, fashion-mnist.")
@click.option("--time-budget", type=click.FloatRange(min=0, min_open=True), default=None, help="Stop after S seconds.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Stop after N epochs.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for weights and batch order.")
@click.option("--out", metavar="PATH", required=True, type=click.Path(file_okay=False), help="Checkpoint folder to write.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Model hyperparameter or training setting (lr, batch_size, clip, ...).")
@click.option("--task-option", "task_sets", multiple=True, metavar="KEY=VALUE", help="Task option, e.g. length=200.")
@click.option("-o", "old_task_sets", multiple=True, hidden=True, callback=deprecated("-o (train's --task-option)", "--task-option"))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def command(model: str, task: str, time_budget: float | None, epochs: int | None, seed: int, out: str,
            sets: tuple[str, ...], task_sets: tuple[str, ...], old_task_sets: tuple[str, ...], as_json: bool) -> None:
    """Train a zoo MODEL on a task, score the test split, write model.safetensors + manifest.json."""
    summary = run_training(model, task, time_budget=time_budget, epochs=epochs, seed=seed, out=out,
                           sets=sets, task_sets=task_sets + old_task_sets, progress=not as_json)
    if as_json:
        click.echo(json.dumps(summary, indent=2))


def run_training(model: str, task: str, *, time_budget: float | None, epochs: int | None, seed: int,
                     out: str, sets: tuple[str, ...], task_sets: tuple[str, ...],
                     progress: bool = True) -> dict[str, Any]:
    """What ``ortkit train`` does: split ``--set`` into model overrides and training settings,
    train with a rich progress bar, print the result. Returns `TrainResult.summary()`."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from ortkit.base import UsageError
    from ortkit.cli._options import parse_assignments
    from ortkit.models import TRAIN_KEYS, TrainProgress, get_entry, train, validate_request

    assigned = parse_assignments(sets, "--set")
    entry = get_entry(model)
    settings = {k: v for k, v in assigned.items() if k in TRAIN_KEYS}
    overrides = {k: v for k, v in assigned.items() if k not in TRAIN_KEYS}
    bad = sorted(k for k in overrides if k not in entry.valid_keys or k == "preset")
    if bad:
        raise UsageError(f"--set {bad[0]}: not a hyperparameter of {model!r} nor a training setting; "
                         f"hyperparameters: {', '.join(entry.parameter_names)}; settings: {', '.join(TRAIN_KEYS)}")
    task_options = parse_assignments(task_sets, "--task-option")
    # Fail on a bad request before the progress bar shows.
    validate_request(model, task, task_options, overrides, settings, epochs, time_budget)
    console = Console(stderr=True)
    if not progress:
        result = train(model, task, task_options=task_options, overrides=overrides, epochs=epochs,
                       time_budget=time_budget, seed=seed, out=out, settings=settings)
        return result.summary()
    columns = (TextColumn("[bold]{task.description}"), BarColumn(bar_width=20), TextColumn("{task.percentage:>3.0f}%"),
               TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[metric]}"),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(compact=True))
    with Progress(*columns, console=console, transient=False) as bar:
        bar_id = bar.add_task(model, total=1000, loss="-", metric="")

        def update(p: TrainProgress) -> None:
            metric = f"val {p.metric_name[:3]} {p.val_metric:.4f}" if p.val_metric is not None else ""
            bar.update(bar_id, completed=round(p.fraction * 1000), loss=f"{p.loss:.4f}",
                       metric=f"ep {p.epoch} {metric}")

        result = train(model, task, task_options=task_options, overrides=overrides, epochs=epochs,
                       time_budget=time_budget, seed=seed, out=out, settings=settings, callback=update)
        bar.update(bar_id, completed=1000)
    console.print(f"test {result.metric_name}: [bold]{result.metric:.4f}[/bold] (best val {result.val_metric:.4f}, "
                  f"{result.epochs} epochs, {result.training_seconds:.1f} s, {result.spec.parameters:,} parameters)")
    console.print(f"checkpoint: {result.checkpoint}")
    return result.summary()
