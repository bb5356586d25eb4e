"""The README is executable documentation: its set-up commands are the ones CI runs, and every
`ortkit` command it shows exists and parses."""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import click
from click.testing import CliRunner

from ortkit.cli._main import COMMANDS, cli

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def _code_lines(text: str) -> list[str]:
    """Shell lines of the fenced blocks marked bash/sh/console (or unmarked), continuations joined."""
    lines: list[str] = []
    language: str | None = None
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("```"):
            language = None if language is not None else (stripped[3:].strip() or "sh")
            continue
        if language not in ("bash", "sh", "console", "shell"):
            continue
        if language == "console" and not pending:
            # A console block shows a session: commands after "$ ", the rest is their output.
            if not stripped.startswith("$ "):
                continue
        stripped = stripped.removeprefix("$ ")
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        line, pending = pending + stripped, ""
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def _ortkit_invocations(text: str) -> list[list[str]]:
    found = []
    for line in _code_lines(text):
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        command: list[str] = []
        for token in [*lexer, "&&"]:
            if token not in ("&&", "||", "|", ";", ">", "2>", "&"):
                command.append(token)
                continue
            for i, word in enumerate(command):
                if word == "ortkit" or word.endswith("/ortkit"):
                    found.append(command[i + 1:])
                    break
            command = []
    return found


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    test_lines = [line for line in _code_lines(README) if "pytest" in line]
    assert len(test_lines) == 1, test_lines
    assert test_lines[0] in ci.splitlines()


def test_readme_main_job_runs_ortkit_study() -> None:
    assert any(args[:1] == ["study"] for args in _ortkit_invocations(README))


def test_every_ortkit_command_in_the_readme_and_docs_exists_and_parses() -> None:
    texts = [README] + [p.read_text() for p in sorted((REPO / "docs").glob("*.md"))]
    invocations = [args for text in texts for args in _ortkit_invocations(text) if args]
    assert invocations, "the README shows no ortkit command"
    for args in invocations:
        name = args[0]
        if name.startswith("-"):
            continue
        assert name in COMMANDS, f"the docs show `ortkit {' '.join(args)}` but there is no command {name!r}"
        path = [name]
        command = importlib.import_module(COMMANDS[name][0]).command
        rest = args[1:]
        # Descend into command groups (`ortkit target create ...`).
        while isinstance(command, click.Group) and rest and rest[0] in command.commands:
            command = command.commands[rest[0]]
            path.append(rest[0])
            rest = rest[1:]
        result = CliRunner().invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, f"ortkit {' '.join(path)} --help failed: {result.output}"
        options = {word.split("=")[0] for word in rest if word.startswith("--")}
        for option in options:
            assert option in result.output, f"the docs use `ortkit {' '.join(path)} {option}`, which its --help does not list"
