"""Option grammars shared by every command, so that one spelling means one thing everywhere."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import click

from ortkit.base import UsageError

__all__ = ["CONCEPTS", "Concept", "deprecated", "merge", "model_file", "parse_assignments"]

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def parse_assignments(items: Sequence[str], option: str = "--set") -> dict[str, Any]:
    """``KEY=VALUE`` items (``--set`` of `export` and `train`, ``--task-option``) -> typed values.

    A value is read as: ``true``/``false`` in any case -> bool; a JSON literal (``32``, ``3e-3``,
    ``[8, 16]``, ``{"a": 1}``, ``"text"``) -> that value; a comma list of numbers (``16,32``) -> a
    list; anything else -> the string as written.

    Raises:
        UsageError: an item without ``=`` or with an empty or malformed key, or a key given twice.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not _KEY.match(key):
            raise UsageError(f"bad {option} {item!r}: expected KEY=VALUE, e.g. {option} hidden_size=32")
        if key in out:
            raise UsageError(f"{option} {key} is given twice; give each key once")
        out[key] = parse_value(raw.strip())
    return out


def parse_value(raw: str) -> Any:
    """One value of the grammar above."""
    if raw.lower() in {"true", "false"}:
        return raw.lower() == "true"
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        pass
    parts = [p.strip() for p in raw.split(",")]
    if len(parts) > 1 and all(_is_number(p) for p in parts):
        return [json.loads(p) for p in parts]
    return raw


def _is_number(text: str) -> bool:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return False
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# ------------------------------------------------------------------ the option vocabulary
@dataclass(frozen=True)
class Concept:
    """One concept the CLI names: its one flag, the metavars its syntax may show, its default (as
    click holds it; ``...`` when it differs by command, e.g. the folder --out writes), and the
    spellings it must not take. docs/cli.md is this table, in prose."""

    flag: str
    metavars: tuple[str, ...]
    default: Any
    meaning: str
    others: tuple[str, ...] = ()


# The single source of truth for option names; tests/cli/test_vocabulary.py walks every command
# and fails on a concept spelled another way, with another syntax, or with another default.
CONCEPTS: dict[str, Concept] = {
    "ep": Concept("--ep", ("SPEC", "SPEC,SPEC..."), "auto", "execution provider; in a grid command a comma list, one configuration each",
                  ("--provider", "--providers", "--execution-provider", "-e")),
    "ep_library": Concept("--ep-library", ("NAME=PATH",), (), "plugin EP library to register; NAME becomes an EP spec", ("--plugin", "--ep-lib")),
    "threads": Concept("--threads", ("N", "N,N..."), ..., "intra-op threads; unset or 'default' is onnxruntime's choice",
                       ("--num-threads", "--intra-op-threads", "-t")),
    "target": Concept("--target", ("NAME",), None, "a registered environment (another onnxruntime) that runs the command", ("--env-target",)),
    "input": Concept("--input", ("NAME=PATH.npy|random",), (), "an input's data", ("--inputs", "--feed")),
    "input_spec": Concept("--input-spec", ("NAME:DTYPE:DIMS",), (), "an input's declared signature (user models)"),
    "shape": Concept("--shape", ("NAME=D0,D1,...|SYMBOL=N",), (), "an input's shape or a symbolic dim's size", ("--shapes",)),
    "json": Concept("--json", (), False, "print the result as JSON on stdout (progress goes to stderr)", ("--as-json", "--format")),
    "db": Concept("--db", ("PATH",), ..., "SQLite results database", ("--database", "--results")),
    "out": Concept("--out", ("PATH",), ..., "where the command writes its result (a file or a folder)",
                   ("--output", "--output-dir", "--out-dir", "-o")),
    "seed": Concept("--seed", (), 0, "seed for random weights or inputs", ("--random-seed",)),
    "force": Concept("--force", (), False, "measure again what the database already holds", ("--overwrite", "--redo")),
    "tuned": Concept("--tuned", ("PROFILE.json",), ..., "a tuned profile from `ortkit tune`: its EP, options, settings and precision",
                     ("--tuned-profile", "--tuning")),
}


def deprecated(old: str, new: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A click callback for a hidden old spelling: one line on stderr when it is used.

    Old spellings are kept for one release so that scripts keep working while they move."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value not in (None, (), False) and not ctx.resilient_parsing:
            click.echo(f"warning: {old} is deprecated and will be removed in the next release; use {new}", err=True)
        return value

    return callback


def merge(new: Any, old: Any, flag: str) -> Any:
    """The value of an option given under its new or its deprecated name (not both)."""
    if old in (None, ()):
        return new
    if new not in (None, ()):
        raise UsageError(f"{flag} is given under its old and its new name; give it once")
    return old


def model_file(path: str) -> str:
    """An .onnx file, or an export folder holding model.onnx (every command takes both)."""
    folder = Path(path)
    if folder.is_dir():
        if (folder / "model.onnx").is_file():
            return str(folder / "model.onnx")
        raise UsageError(f"{path} is a folder without model.onnx: give an .onnx file or an export folder")
    return path


def forward_to_target(ctx: click.Context, target: str) -> None:
    """Run this same command in target ``target``'s interpreter and exit with its status.

    A target is another Python environment (another onnxruntime distribution) with ortkit in it,
    so the command line is rebuilt from the parsed options and run there; ``--target`` itself is
    left out. Its output is relayed as it came."""
    import subprocess

    from ortkit.profiler.targets import resolve

    found = resolve(target)
    argv: list[str] = []
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if param.name == "target" or value in (None, (), False):
            continue
        if isinstance(param, click.Argument):
            argv += [str(v) for v in value] if isinstance(value, tuple) else [str(value)]
        elif getattr(param, "is_flag", False):
            argv.append(param.opts[0])
        elif isinstance(value, tuple):
            for item in value:
                argv += [param.opts[0], str(item)]
        elif value != param.default:
            argv += [param.opts[0], str(value)]
    code = "import sys; from ortkit.cli import cli; cli.main(sys.argv[1:], prog_name='ortkit')"
    done = subprocess.run([found.python, "-c", code, ctx.command.name or "", *argv], capture_output=True, text=True)
    click.echo(done.stdout, nl=False)
    click.echo(done.stderr, nl=False, err=True)
    ctx.exit(done.returncode)


def one_session_ep(spec: str) -> str:
    """``--ep`` of a one-session command (run, inspect): EPs sharing the session are joined by '+';
    the older ',' still works for one release, with a warning, since ',' means a list of
    configurations in `profile`."""
    from ortkit.runtime import parse_providers

    parse_providers(spec)  # a malformed list is one error line, without a warning before it
    if "," in spec:
        click.echo(f"warning: --ep {spec}: ',' between EPs of one session is deprecated; write --ep {spec.replace(',', '+')}", err=True)
    return spec.replace(",", "+")


def best_ep() -> str:
    """What ``--ep auto`` names where one EP must be chosen before a session exists (the
    profiler's configurations, export's --optimize): the first EP of this build in the auto order,
    TensorRT excepted, as for a target's default: builds list it without its libraries."""
    from ortkit.runtime import available_providers

    return next(spec for spec in available_providers() if spec != "tensorrt")
