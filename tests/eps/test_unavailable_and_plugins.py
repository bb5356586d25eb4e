"""EPs that cannot run here are detected when the session is created and reported with the reason,
never measured: CUDA and TensorRT on the CPU build, plugin-EP libraries that do not load, and a
plugin library that loads but offers no device (onnxruntime-ep-openvino on an AMD CPU)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import onnxruntime as ort
import pytest

from ortkit.runtime import ProviderUnavailable, Runtime, available_providers

from .conftest import FEATURES

CPU_BUILD = "CUDAExecutionProvider" not in ort.get_available_providers()
cpu_build_only = pytest.mark.skipif(not CPU_BUILD, reason="this onnxruntime build has the CUDA EP")


@cpu_build_only
@pytest.mark.parametrize(
    ("spec", "name"),
    [("cuda", "CUDAExecutionProvider"), ("cuda:0", "CUDAExecutionProvider"), ("tensorrt", "TensorrtExecutionProvider")],
)
def test_gpu_eps_on_the_cpu_build_fail_at_session_creation(spec: str, name: str, zoo_like: dict[str, Path]) -> None:
    # Plain onnxruntime would warn and silently run on the CPU; the runtime refuses.
    with pytest.raises(ProviderUnavailable, match=rf"EP '{spec}' \({name}\) is not in this onnxruntime build \(onnxruntime [0-9.]+\); it offers .*cpu"):
        Runtime(zoo_like["lstm2"], providers=[spec, "cpu"])
    assert spec.split(":")[0] not in available_providers()


@cpu_build_only
@pytest.mark.parametrize("spec", ["cuda", "tensorrt"])
def test_non_strict_skips_a_missing_gpu_ep_and_says_what_runs(spec: str, zoo_like: dict[str, Path]) -> None:
    # strict=False is the opt-out: the missing EP is skipped, and the labels say the CPU ran it.
    rt = Runtime(zoo_like["lstm2"], providers=[spec, "cpu"], strict=False)
    assert rt.providers == ["CPUExecutionProvider"]
    assert set(rt.node_assignment) == {"CPUExecutionProvider"}


@cpu_build_only
def test_auto_on_the_cpu_build_runs_and_says_cpu(zoo_like: dict[str, Path]) -> None:
    rt = Runtime(zoo_like["gru2"], providers="auto")
    assert rt.providers == ["CPUExecutionProvider"]
    assert set(rt.node_assignment) == {"CPUExecutionProvider"}


@cpu_build_only
def test_cli_profile_style_message_is_one_line(zoo_like: dict[str, Path]) -> None:
    with pytest.raises(ProviderUnavailable) as caught:
        Runtime(zoo_like["tcn"], providers="tensorrt")
    assert "\n" not in str(caught.value)


# ------------------------------------------------------------------------------------ plugin EPs

needs_plugin_api = pytest.mark.skipif(
    not hasattr(ort, "register_execution_provider_library"), reason="onnxruntime < 1.23 has no plugin EP API"
)


@needs_plugin_api
def test_a_file_that_is_not_a_library_is_a_clear_error(zoo_like: dict[str, Path], tmp_path: Path) -> None:
    fake = tmp_path / "libnot_an_ep.so"
    fake.write_bytes(b"this is not an ELF shared object\n" * 10)
    with pytest.raises(ProviderUnavailable, match=r"EP library 'fake_ep' \(.*libnot_an_ep.so\) did not load: .*Failed to load library"):
        Runtime(zoo_like["tcn"], providers="fake_ep", ep_library={"fake_ep": fake})
    assert "fake_ep" not in available_providers()


@needs_plugin_api
def test_a_missing_library_is_a_clear_error(zoo_like: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ProviderUnavailable, match=r"EP library 'gone_ep': no such file .*missing.so"):
        Runtime(zoo_like["tcn"], providers="gone_ep", ep_library={"gone_ep": tmp_path / "missing.so"})


@pytest.fixture(scope="session")
def openvino_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The OpenVINO plugin-EP library from PyPI's onnxruntime-ep-openvino wheel (about 50 MB),
    unpacked into a temporary folder; it is never installed into any environment."""
    folder = tmp_path_factory.mktemp("ep-openvino")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "onnxruntime-ep-openvino", "-d", str(folder)],
        capture_output=True, text=True, timeout=600,
    )
    wheels = sorted(folder.glob("onnxruntime_ep_openvino-*.whl"))
    if done.returncode != 0 or not wheels:
        pytest.skip(f"cannot download onnxruntime-ep-openvino (no network to PyPI?): {done.stderr.strip().splitlines()[-1:]}")
    with zipfile.ZipFile(wheels[-1]) as wheel:
        wheel.extractall(folder / "unpacked")
    library = folder / "unpacked" / "onnxruntime_ep_openvino" / "libonnxruntime_providers_openvino_plugin.so"
    assert library.is_file(), sorted(p.name for p in library.parent.iterdir())
    return library


_DEVICES_SCRIPT = r"""
import json, sys
import onnxruntime as ort
ort.register_execution_provider_library("ov_probe", sys.argv[1])
print(json.dumps([d.ep_name for d in ort.get_ep_devices()]))
"""


@needs_plugin_api
@pytest.mark.slow
def test_openvino_plugin_library_with_or_without_a_device(openvino_plugin: Path, zoo_like: dict[str, Path]) -> None:
    # Ask onnxruntime itself, in a separate process, what the library offers on this machine.
    listed = subprocess.run([sys.executable, "-c", _DEVICES_SCRIPT, str(openvino_plugin)], capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0, listed.stderr[-2000:]
    offers_device = "OpenVINOExecutionProvider" in json.loads(listed.stdout.strip().splitlines()[-1])
    if not offers_device:
        # The AMD CPU case: the library loads, adds no device, and the runtime says so at creation.
        with pytest.raises(ProviderUnavailable, match=r"EP library 'ov_plugin' \(.*\) loaded but offers no device on this machine"):
            Runtime(zoo_like["tcn"], providers="ov_plugin", ep_library={"ov_plugin": openvino_plugin})
        assert "ov_plugin" not in available_providers()
    else:
        # An Intel CPU: the device becomes an EP spec and the label is the plugin's EP.
        rt = Runtime(zoo_like["tcn"], providers="ov_plugin", ep_library={"ov_plugin": openvino_plugin})
        assert rt.providers[0] == "OpenVINOExecutionProvider"
        assert "ov_plugin" in available_providers()


# ------------------------------------------------------------------- --ep-library on the CLI


@needs_plugin_api
def test_cli_run_and_inspect_report_a_bad_plugin_library_in_one_line(zoo_like: dict[str, Path], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from ortkit.cli._main import cli

    fake = tmp_path / "libnot_an_ep.so"
    fake.write_bytes(b"\x7fELF not really")
    for command in ("run", "inspect"):
        result = CliRunner().invoke(cli, [command, str(zoo_like["tcn"]), "--ep", "myep", "--ep-library", f"myep={fake}"])
        assert result.exit_code == 1, result.output
        assert "myep" in result.output and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1
    malformed = CliRunner().invoke(cli, ["run", str(zoo_like["tcn"]), "--ep-library", "no-equals-sign"])
    assert malformed.exit_code == 2 and "NAME=PATH" in malformed.output


@needs_plugin_api
def test_profile_records_a_plugin_ep_that_does_not_load_as_skipped(zoo_like: dict[str, Path], tmp_path: Path) -> None:
    from ortkit.profiler import Budget, profile

    fake = tmp_path / "libnot_an_ep.so"
    fake.write_bytes(b"\x7fELF not really")
    summary = profile(
        [zoo_like["tcn"]], eps=["myep"], batches=[1], times=[8], db=tmp_path / "r.db",
        ep_library={"myep": str(fake)}, budget=Budget(max_time_s=0.05),
    )
    (result,) = summary.results
    assert result.status == "skipped"
    assert "myep" in (result.message or "") and not result.samples_ms
    assert dict(result.spec.ep_library) == {"myep": str(fake)}
