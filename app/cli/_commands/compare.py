from __future__ import annotations

import json

import click


@click.command("compare")
@click.argument("a")
@click.argument("b")
@click.option("--threshold", default=0.05, show_default=True, type=float, help="Relative slowdown that counts as a regression.")
@click.option("--cross-env", is_flag=True, help="Also compare results measured in different environments.")
@click.option("--across", default=None, metavar="AXIS[=A:B]",
              help="Pair configurations that differ only in AXIS (threads, ep, target, precision), e.g. threads=1:2.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.pass_context
def command(ctx: click.Context, a: str, b: str, threshold: float, cross_env: bool, across: str | None, as_json: bool) -> None:
    """Compare results B against baseline A (databases, or DB@ENVKEY); exit 3 on a regression.

    With --across, A and B may be the same database: `ortkit compare r.db r.db --across threads=1:2`
    says what a second thread buys, configuration by configuration."""
    from ortkit.report import REGRESSION_EXIT_CODE, compare, print_comparison

    result = compare(a, b, threshold=threshold, cross_env=cross_env, across=across)
    click.echo(json.dumps(result.to_dict(), indent=2)) if as_json else print_comparison(result)
    if result.regressions:
        ctx.exit(REGRESSION_EXIT_CODE)
