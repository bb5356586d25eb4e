from __future__ import annotations

import json
from dataclasses import asdict

import click


@click.group("db")
def command() -> None:
    """Check a results database, or salvage a damaged one into a new file."""


@command.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.pass_context
def check_command(ctx: click.Context, path: str, as_json: bool) -> None:
    """Run SQLite's integrity check on PATH and read every result back; exit 1 when damaged."""
    from ortkit.profiler import check_store

    found = check_store(path)
    if as_json:
        click.echo(json.dumps({**asdict(found), "ok": found.ok}, indent=2))
    elif found.problems:
        click.echo(f"{path}: damaged file ({len(found.problems)} problem(s)): {found.problems[0]}")
        click.echo(f"salvage its rows with `ortkit db recover {path}`")
    else:
        click.echo(f"{path}: file sound, {found.rows} result(s) readable, {len(found.damaged)} damaged row(s)")
        for key, reason in found.damaged:
            click.echo(f"  damaged {key}: {reason} (a sweep over it measures it again)")
    if not found.ok:
        ctx.exit(1)


@command.command("recover")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--out", default=None, metavar="PATH", type=click.Path(dir_okay=False), help="The new database (default: NAME.recovered.db beside PATH).")
def recover_command(path: str, out: str | None) -> None:
    """Copy every readable row of PATH into a new database; PATH is left as it is."""
    from ortkit.profiler import recover_store

    done = recover_store(path, out)
    copied = ", ".join(f"{n} {table}" for table, n in done.copied)
    click.echo(f"recovered into {done.out} ({done.method}): {copied}; {done.results} result(s) readable, "
               f"{done.damaged} still damaged (measured again by the next sweep)")
