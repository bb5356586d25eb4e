from __future__ import annotations

import json

import click


@click.group("target")
def command() -> None:
    """Manage profiling targets: Python environments with another onnxruntime distribution."""


@command.command("add")
@click.argument("name")
@click.option("--python", "python", required=True, type=click.Path(dir_okay=False), help="The environment's interpreter.")
@click.option("--ep", "default_ep", default="auto", show_default=True, metavar="SPEC",
              help="EP measured by default; auto: openvino, cuda, cpu, whichever the environment has.")
@click.option("--replace", is_flag=True, help="Overwrite a target of that name.")
def add_command(name: str, python: str, default_ep: str | None, replace: bool) -> None:
    """Register an existing environment NAME (it must have onnxruntime and ortkit)."""
    from ortkit.profiler import targets

    _show([targets.add(name, python, default_ep=None if default_ep == "auto" else default_ep, replace=replace)])


@command.command("create")
@click.argument("kind", type=click.Choice(["openvino", "cpu", "gpu"]))
@click.option("--path", type=click.Path(file_okay=False), default=None, help="The environment's folder (default: $ORTKIT_HOME/envs/NAME).")
@click.option("--name", default=None, help="Target name (default: KIND).")
@click.option("--replace", is_flag=True, help="Overwrite a target of that name.")
@click.option("--source", default=None, type=click.Path(exists=True), metavar="WHEEL|DIR",
              help="Install ortkit from this wheel or source tree (default: the same ortkit as this one).")
def create_command(kind: str, path: str | None, name: str | None, replace: bool, source: str | None) -> None:
    """Create a venv with the onnxruntime distribution for KIND (from PyPI) and register it.

    ortkit goes in as this one was installed: editable from its source tree, from the wheel or
    folder pip installed it from, or the same version from the package index."""
    from ortkit.profiler import targets

    click.echo(f"creating a {kind} environment (pip install; the openvino one is about 450 MB)...", err=True)
    _show([targets.create(kind, path, name=name, replace=replace, source=source)])


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the targets as JSON.")
def list_command(as_json: bool) -> None:
    """List the stored targets."""
    from ortkit.profiler import targets

    found = targets.list_targets()
    if as_json:
        click.echo(json.dumps([t.to_dict() for t in found], indent=2))
    elif not found:
        click.echo("no targets (add one with `ortkit target add NAME --python PATH` or `ortkit target create openvino`)")
    else:
        _show(found)


@command.command("remove")
@click.argument("name")
@click.option("--delete", is_flag=True, help="Also delete the environment (only one ortkit created).")
def remove_command(name: str, delete: bool) -> None:
    """Forget target NAME."""
    from ortkit.profiler import targets

    gone = targets.remove(name, delete=delete)
    click.echo(f"removed target {gone.name}" + (f" and deleted {gone.environment}" if delete else ""))


def _show(found: list) -> None:
    for t in found:
        click.echo(f"{t.name}: {t.default_ep} via {t.distribution} {t.onnxruntime} [{', '.join(t.eps)}] {t.python}")
