"""A tuned profile applied to a configuration: the one function `ortkit profile --tuned`, the
study and `ortkit tune` use to turn a base spec into the spec of its tuned session.

The tuned spec differs from the base one only in what the profile chose (EP, EP options, threads,
optimization level, the other session settings, the precision variant) and in a ``tuned`` tag, so
the store keeps tuned and default measurements of one shape side by side.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ortkit.base import UsageError
from ortkit.profiler._spec import ProfileSpec

if TYPE_CHECKING:  # `import ortkit.profiler` works without onnxruntime (ortkit env, the report)
    from ortkit.runtime import TunedProfile, TunedTarget

__all__ = ["TUNED_TAG", "tuned_spec", "workers_target"]

#: the tag a tuned configuration carries (``("tuned", "1")``); untuned ones carry none
TUNED_TAG = ("tuned", "1")


def tuned_spec(
    spec: ProfileSpec,
    profile: TunedProfile,
    profile_path: str | os.PathLike[str],
    target: TunedTarget | None = None,
) -> ProfileSpec:
    """The configuration ``spec`` with ``profile``'s choice for its (batch, time).

    Args:
        spec: the base configuration (an ``ort`` runner on the model that was tuned).
        profile: the loaded profile (`ortkit.runtime.load_tuned_profile`).
        profile_path: the profile's file; a precision variant's ``model_file`` is relative to
            its folder.
        target: the machine the spec is measured on (default: this one).

    Returns:
        The tuned spec: the choice's EP, EP options, threads, optimization and session settings
        (``session=settings.extra()``); the variant file, its sha256 and precision when another
        precision won; tagged ``("tuned", "1")``.

    Raises:
        UsageError: ``spec`` is not an onnxruntime configuration (PyTorch runners are not tuned).
        TunedProfileMismatch: the profile is for another model or machine, or a variant file
            changed since tuning.
        TunedProfileError: the choice's variant file is missing.
    """
    if spec.runner != "ort":
        raise UsageError(f"a tuned profile applies to onnxruntime configurations, not the {spec.runner} runner")
    profile.check(spec.model_sha256, target)
    choice = profile.choice_for(spec.batch, spec.time)
    profile.check_choice(spec.model_sha256, choice)
    settings = choice.settings
    variant = profile.model_path(choice, profile_path)
    model, sha, precision = spec.model, spec.model_sha256, spec.precision
    if variant is not None and choice.model_sha256 != spec.model_sha256:
        model, sha, precision = str(variant), choice.model_sha256, choice.precision
    tags = tuple(tag for tag in spec.tags if tag[0] != TUNED_TAG[0]) + (TUNED_TAG,)
    return replace(
        spec, model=model, model_sha256=sha, precision=precision, ep=choice.ep, ep_options=choice.ep_options,
        threads=settings.threads, optimization=settings.optimization, session=settings.extra(), tags=tags,
    )


def workers_target(environment: dict[str, Any]) -> TunedTarget:
    """The machine and onnxruntime the workers of ``environment`` (a worker environment's
    dict) measure on: what a profile is tuned for, and what it must have been tuned on."""
    from ortkit.runtime import TunedTarget

    here = TunedTarget.here()
    return TunedTarget(cpu=str(environment.get("cpu_model") or here.cpu), cores=here.cores,
                       onnxruntime=str(environment.get("onnxruntime") or here.onnxruntime))
