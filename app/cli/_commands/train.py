from __future__ import annotations

import json

import click


@click.command("train")
@click.argument("model")
@click.option("--task", required=True, help="Task name: adding, seq-digits, digits, fashion-mnist.")
@click.option("--time-budget", type=click.FloatRange(min=0, min_open=True), default=None, help="Stop after S seconds.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Stop after N epochs.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for weights and batch order.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Checkpoint folder to write.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Model hyperparameter or training setting (lr, batch_size, clip, ...).")
@click.option("--task-option", "-o", "task_sets", multiple=True, metavar="KEY=VALUE", help="Task option, e.g. length=200.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def command(model: str, task: str, time_budget: float | None, epochs: int | None, seed: int, out: str,
            sets: tuple[str, ...], task_sets: tuple[str, ...], as_json: bool) -> None:
    """Train a zoo MODEL on a task, score the test split, write model.safetensors + manifest.json."""
    from ortkit.models import run_training_cli

    summary = run_training_cli(model, task, time_budget=time_budget, epochs=epochs, seed=seed, out=out,
                               sets=sets, task_sets=task_sets, progress=not as_json)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
