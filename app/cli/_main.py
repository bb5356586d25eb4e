"""The `ortkit` command line: a thin shell over the library.

Subcommands live in ``ortkit.cli._commands.<name>`` and are imported only when invoked (click's
LazyGroup pattern), so ``ortkit --help`` never imports torch or onnxruntime. A user error
(`OrtkitError`) becomes one line on stderr and its exit code; anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import click

from ortkit.base import OrtkitError

# command name -> (module, one-line help shown by `ortkit --help` without importing the module)
COMMANDS: dict[str, tuple[str, str]] = {
    "env": ("ortkit.cli._commands.env", "Show the software, hardware and execution providers ortkit sees."),
    "models": ("ortkit.cli._commands.models", "List the model zoo: family, task, parameters, inputs."),
    "train": ("ortkit.cli._commands.train", "Train a zoo model on a task and write a safetensors checkpoint."),
    "export": ("ortkit.cli._commands.export", "Export a model to ONNX and verify it against PyTorch."),
    "run": ("ortkit.cli._commands.run", "Run an ONNX model on inputs from .npy files or random data."),
    "inspect": ("ortkit.cli._commands.inspect", "Describe an ONNX model: signature, ops, FLOPs, EP assignment."),
    "profile": ("ortkit.cli._commands.profile", "Measure latency, throughput and memory over a grid."),
    "sweep": ("ortkit.cli._commands.sweep", "Run the profiling sweep described by a TOML file."),
    "study": ("ortkit.cli._commands.study", "Train, export, profile and report the RNN-vs-CNN study."),
    "report": ("ortkit.cli._commands.report", "Write Markdown and HTML reports from a results database."),
    "compare": ("ortkit.cli._commands.compare", "Compare two result sets and flag regressions."),
    "db": ("ortkit.cli._commands.db", "Check a results database, or salvage a damaged one into a new file."),
    "target": ("ortkit.cli._commands.target", "Manage profiling targets (other Python environments)."),
    "serve": ("ortkit.cli._commands.serve", "Serve ONNX models over KServe v2 REST with batching and streaming."),
    "triton": ("ortkit.cli._commands.triton", "Write a Triton Inference Server model repository for an ONNX model."),
    "doctor": ("ortkit.cli._commands.doctor", "Measure this machine's noise floor and say what precision to expect."),
    "tune": ("ortkit.cli._commands.tune", "Find the fastest confirmed configuration of a model and write a tuned profile."),
}


# The library's messages speak to Python callers ("pass cast=True"); on the command line the same
# advice names the flag. One table, so no command tells a user to pass a Python argument.
CLI_ADVICE: dict[str, str] = {
    "pass cast=True": "pass --cast",
    "(pass strict=False to accept that)": "(`ortkit inspect --ep SPEC` shows where the nodes go)",
    "or pass strict=False)": "or see where they go with `ortkit inspect`)",
    "pass replace=True": "pass --replace",
    "add 'cpu' to the providers": "add cpu to the session (--ep SPEC+cpu)",
}


class CommandFailed(click.ClickException):
    """Carries an OrtkitError's message and exit code through click's own error printing."""

    def __init__(self, error: OrtkitError) -> None:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        for python, cli in CLI_ADVICE.items():
            message = message.replace(python, cli)
        super().__init__(message)
        self.exit_code = error.exit_code


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name, (module, _) in COMMANDS.items() if _module_exists(module))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None or not _module_exists(entry[0]):
            return None
        return LazyCommand(cmd_name, entry)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OrtkitError as error:
            raise CommandFailed(error) from None
        except ImportError as error:
            # A missing optional dependency (torch, matplotlib, onnxruntime) is a setup problem,
            # not a bug: say which extra installs it.
            raise click.ClickException(_missing_dependency_message(error)) from None


class LazyCommand(click.Command):
    """A placeholder whose real command is imported when it is run or asked for its help."""

    def __init__(self, name: str, entry: tuple[str, str]) -> None:
        super().__init__(name, help=entry[1])
        self._module = entry[0]
        self._real: click.Command | None = None

    def _load(self) -> click.Command:
        if self._real is None:
            module = importlib.import_module(self._module)
            self._real = module.command
        return self._real

    def main(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - used only standalone
        return self._load().main(*args, **kwargs)

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any) -> click.Context:
        return self._load().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        return self._load().invoke(ctx)

    def get_short_help_str(self, limit: int = 45) -> str:
        return self.help or ""


def _module_exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _missing_dependency_message(error: ImportError) -> str:
    name = (error.name or "").split(".")[0]
    if name == "onnxruntime":
        from ortkit.base import ONNXRUNTIME_MISSING

        return ONNXRUNTIME_MISSING
    extra = {
        "torch": "torch",
        "onnxscript": "torch",
        "sklearn": "torch",
        "matplotlib": "report",
        "onnxruntime": "cpu",
    }.get(name)
    if extra is None:
        return f"a required module could not be imported: {error}"
    return f"this command needs '{name}', which is not installed: pip install 'ortkit[{extra}]'"


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ortkit", prog_name="ortkit")
def cli() -> None:
    """Export RNN/CNN models to ONNX, verify them, and profile them under onnxruntime EPs."""


def main() -> None:
    cli.main(prog_name="ortkit")
