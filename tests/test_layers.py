"""The layers of docs/architecture.md, enforced: every import in every module (function-level ones
included) goes down the stack, and across packages only through a package's public names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: source folder -> the package it installs as (pyproject.toml's package-dir)
FOLDERS = {
    "base": "ortkit.base",
    "runtime": "ortkit.runtime",
    "models": "ortkit.models",
    "exporter": "ortkit.exporter",
    "profiler": "ortkit.profiler",
    "app": "ortkit",
}

#: layer -> the layers it may import (besides itself)
ALLOWED = {
    "base": set(),
    "runtime": {"base"},
    "models": {"base"},
    "exporter": {"base", "models", "runtime"},
    "profiler": {"base", "runtime"},
    "app": {"base", "runtime", "models", "exporter", "profiler"},
}

#: The one documented exception: the worker's PyTorch baseline (profiler/_baseline.py) builds the model from the zoo.
EXCEPTIONS = {("ortkit.profiler._baseline", "ortkit.models")}


def layer_of(module: str) -> str:
    parts = module.split(".")
    if parts[0] != "ortkit":
        raise ValueError(module)
    if len(parts) > 1 and parts[1] in {"base", "runtime", "models", "exporter", "profiler"}:
        return parts[1]
    return "app"


def package_of(module: str) -> str:
    """The package a module belongs to for the public-names rule: ``ortkit.X`` (``ortkit`` for
    the root facade)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 and not parts[1].startswith("_") else "ortkit"


def modules() -> list[tuple[str, Path]]:
    found = []
    for folder, package in FOLDERS.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            parts = list(path.relative_to(REPO / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found.append((".".join([package, *parts]), path))
    return found


def imports(module: str, path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every import statement in the file, at any depth."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((node.lineno, target))
            # `from ortkit.pkg import _private` reaches past the public names too
            out += [(node.lineno, f"{target}.{a.name}") for a in node.names if a.name.startswith("_") and target.startswith("ortkit")]
    return [(line, name) for line, name in out if name == "ortkit" or name.startswith("ortkit.")]


def violations() -> list[str]:
    found = []
    for module, path in modules():
        here = layer_of(module)
        for line, target in imports(module, path):
            where = f"{path.relative_to(REPO)}:{line}: {module} imports {target}"
            there = layer_of(target)
            if there != here and there not in ALLOWED[here] and not any(
                module == m and target.startswith(t) for m, t in EXCEPTIONS
            ):
                found.append(f"{where} ({here} may not import {there})")
            if package_of(target) != package_of(module) and any(p.startswith("_") for p in target.split(".")[2:]):
                found.append(f"{where} (a private module of another package: import its public name)")
    return found


def test_the_layers_hold() -> None:
    assert violations() == []


def test_no_root_folder_shadows_the_installed_package() -> None:
    assert not (REPO / "ortkit").exists()


@pytest.mark.parametrize("bad, why", [
    ("from ortkit.exporter import export\n", "runtime may not import exporter"),
    ("def f():\n    from ortkit.study import run_study\n", "runtime may not import app"),
    ("from ortkit.profiler._store import ResultStore\n", "runtime may not import profiler"),
])
def test_the_check_catches_an_upward_import(tmp_path: Path, bad: str, why: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "runtime"
    fake.mkdir()
    (fake / "_bad.py").write_text(bad)
    for folder in FOLDERS:
        if folder != "runtime":
            (tmp_path / folder).mkdir(exist_ok=True)
    monkeypatch.setattr(__import__(__name__, fromlist=["REPO"]), "REPO", tmp_path)
    found = violations()
    assert len(found) >= 1 and why in found[0], found


def test_the_check_catches_a_private_import_across_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for folder in FOLDERS:
        (tmp_path / folder).mkdir()
    (tmp_path / "app" / "x.py").write_text("from ortkit.profiler._sweep import plan\nfrom ortkit.profiler import _spec\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["REPO"]), "REPO", tmp_path)
    found = violations()
    assert len(found) == 2 and all("private module of another package" in f for f in found), found
