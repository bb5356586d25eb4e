"""One option vocabulary: every command's options, walked, against the registry in
ortkit.cli._options.CONCEPTS (the table docs/cli.md shows)."""

from __future__ import annotations

import importlib
from pathlib import Path

import click
import pytest

from ortkit.cli._main import COMMANDS
from ortkit.cli._options import CONCEPTS

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def _leaf_commands() -> list[tuple[str, click.Command]]:
    found = []
    for name, (module, _) in COMMANDS.items():
        command = importlib.import_module(module).command
        if isinstance(command, click.Group):
            found += [(f"{name} {sub}", c) for sub, c in command.commands.items()]
        else:
            found.append((name, command))
    return found


def _visible_options(command: click.Command) -> list[click.Option]:
    return [p for p in command.params if isinstance(p, click.Option) and not p.hidden]


def _default(option: click.Option) -> object:
    """The option's default as a user sees it (click 8.2+ keeps a sentinel for "none given")."""
    if type(option.default).__name__ != "Sentinel":
        return option.default
    return False if option.is_flag else (() if option.multiple else None)


def vocabulary_problems(commands: list[tuple[str, click.Command]]) -> list[str]:
    """Each way a command breaks the vocabulary, as a sentence."""
    problems = []
    for name, command in commands:
        for option in _visible_options(command):
            flags = option.opts + option.secondary_opts
            for key, concept in CONCEPTS.items():
                wrong = [f for f in flags if f in concept.others]
                if wrong:
                    problems.append(f"{name}: {wrong[0]} spells {key!r}; the flag is {concept.flag}")
                if concept.flag not in flags:
                    continue
                if concept.metavars and option.metavar not in concept.metavars:
                    problems.append(f"{name} {concept.flag}: syntax {option.metavar!r}, not {' or '.join(concept.metavars)}")
                if concept.default is not ... and _default(option) != concept.default and not option.required:
                    problems.append(f"{name} {concept.flag}: default {_default(option)!r}, not {concept.default!r}")
    return problems


def test_every_command_speaks_one_vocabulary() -> None:
    assert vocabulary_problems(_leaf_commands()) == []


def test_the_walk_catches_a_concept_spelled_two_ways() -> None:
    @click.command("bad")
    @click.option("--output", "-o")
    @click.option("--ep", default="cpu", metavar="SPEC")
    @click.option("--input", metavar="NAME:DTYPE:DIMS")
    def bad(output, ep, input):  # type: ignore[no-untyped-def]
        pass

    problems = "\n".join(vocabulary_problems([("bad", bad)]))
    assert "--output spells 'out'" in problems
    assert "bad --ep: default 'cpu', not 'auto'" in problems
    assert "bad --input: syntax 'NAME:DTYPE:DIMS'" in problems


@pytest.mark.parametrize("name", ["run", "inspect", "profile"])
def test_model_commands_share_the_runtime_options(name: str) -> None:
    command = dict(_leaf_commands())[name]
    flags = {f for o in _visible_options(command) for f in o.opts}
    assert {"--ep", "--ep-library", "--threads", "--target", "--json"} <= flags


def test_every_top_level_command_prints_json() -> None:
    lacking = [name for name, command in _leaf_commands()
               if " " not in name and "--json" not in {f for o in _visible_options(command) for f in o.opts}]
    assert lacking == []


def test_docs_table_names_every_concept() -> None:
    text = DOCS.read_text()
    for concept in CONCEPTS.values():
        assert f"`{concept.flag}`" in text, concept.flag
