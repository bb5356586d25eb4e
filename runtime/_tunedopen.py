"""What `Runtime(model, tuned=...)` opens: the profile's choice for a shape, checked against the
model's bytes and this machine, and the precision variant file it names."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ortkit.base import UsageError
from ortkit.runtime._safe_load import SafeModel, load_model_safely
from ortkit.runtime._tuning import TunedChoice, TunedProfile, TunedProfileError, load_tuned_profile

__all__ = ["TunedOpen", "open_tuned", "refuse_explicit", "resolve_tuned", "tuned_ep_options"]


@dataclass(frozen=True)
class TunedOpen:
    """The choice to open and, when another precision won, the variant file to open instead."""

    choice: TunedChoice
    variant: Path | None


def refuse_explicit(providers: str | Iterable[str], threads: int | None, optimization: str, settings: Any,
                    ep_options: Mapping[str, Any] | None) -> None:
    """A tuned profile decides EP, options and settings: asking for them as well is a conflict."""
    given = [name for name, value in (
        ("providers", providers != "auto"), ("threads", threads is not None), ("optimization", optimization != "all"),
        ("settings", settings is not None), ("ep_options", bool(ep_options)),
    ) if value]
    if given:
        raise UsageError(f"tuned= sets the EP, its options and the session settings; do not pass {', '.join(given)} as well")


def resolve_tuned(
    tuned: str | os.PathLike[str] | TunedProfile,
    model_bytes: bytes,
    shape: tuple[int, int | None] | None,
) -> TunedOpen:
    """Load (when a path) and check ``tuned`` for these model bytes and this machine; pick the
    choice for ``shape`` (None: the profile's first choice) and check its variant file."""
    if isinstance(tuned, TunedProfile):
        profile, path = tuned, Path.cwd() / "profile.json"
    elif isinstance(tuned, (str, os.PathLike)):
        path = Path(tuned)
        profile = load_tuned_profile(path)
    else:
        raise TunedProfileError(f"tuned= takes a profile file or a TunedProfile, got {type(tuned).__name__}")
    if shape is not None and (not isinstance(shape, tuple) or len(shape) != 2):
        raise UsageError(f"tuned_shape must be (batch, time) with time None for models without one, got {shape!r}")
    sha = hashlib.sha256(model_bytes).hexdigest()
    profile.check(sha)
    choice = profile.choice_for(*shape) if shape is not None else profile.choice_for()
    profile.check_choice(sha, choice)
    variant = profile.model_path(choice, path)
    return TunedOpen(choice, variant)


def open_tuned(model: Any, base_dir: str | os.PathLike[str] | None, tuned: str | os.PathLike[str] | TunedProfile,
               shape: tuple[int, int | None] | None) -> tuple[SafeModel, TunedChoice]:
    """The checked model to run for ``tuned`` (the precision variant that won, else ``model``) and
    the choice it runs with."""
    safe = load_model_safely(model, base_dir)
    opened = resolve_tuned(tuned, safe.data, shape)
    if opened.variant is not None:
        # Another precision won: run its file (checked against its hash), not the one given.
        safe = load_model_safely(opened.variant)
    return safe, opened.choice


def tuned_ep_options(choice: TunedChoice) -> dict[str, dict[str, str]] | None:
    """The choice's EP options as `Runtime` takes them."""
    return {choice.ep: dict(choice.ep_options)} if choice.ep_options else None
