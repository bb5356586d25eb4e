from __future__ import annotations

import json

import click


@click.command("doctor")
@click.option("--rounds", default=12, show_default=True, type=click.IntRange(6, 200), help="Interleaved rounds to measure.")
@click.option("--json", "as_json", is_flag=True, help="Print the noise floor and the advice as JSON.")
def command(rounds: int, as_json: bool) -> None:
    """Measure this machine's noise floor (about 25 s) and say what precision to expect."""
    from ortkit.profiler import noise_floor

    floor = noise_floor(rounds=rounds)
    if as_json:
        floors = [{"threads": f.threads, "median_ms": f.median_ms, "round_spread": f.round_spread, "aa_ratio": f.aa_ratio,
                   "aa_halfwidth": f.aa_halfwidth, "rounds": f.rounds, "precision": f.precision} for f in floor.floors]
        click.echo(json.dumps({"quiet": floor.noise.quiet, "noise": floor.noise.describe(), "floors": floors,
                               "advice": floor.advice(), "seconds": floor.seconds}, indent=2))
        return
    click.echo(f"noise while measuring: {floor.noise.describe()} ({'quiet' if floor.noise.quiet else 'NOT quiet'})")
    for f in floor.floors:
        click.echo(f"{f.threads} thread{'s' if f.threads > 1 else ''}: a {f.median_ms * 1e3:.1f} us call; round medians spread "
                   f"{f.round_spread:.1%} (IQR/median); A/A paired ratio {f.aa_ratio:.3f} +-{f.aa_halfwidth:.1%} over {f.rounds} rounds "
                   f"-> expect paired ratios within +-{f.precision:.1%}")
    if not floor.floors:
        click.echo("no measurement succeeded: see `ortkit env` and try `ortkit profile` on a model")
    for line in floor.advice():
        click.echo(f"- {line}")
    click.echo(f"({floor.seconds:.0f} s)")
