"""EPs that cannot run here are detected when the session is created and reported with the reason,
never measured: CUDA and TensorRT on the CPU build, plugin-EP libraries that do not load, and a
plugin library that loads but offers no device (onnxruntime-ep-openvino on an AMD CPU)."""

from __future__ import annotations

import enum
import json
import random
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort
import pytest

from ortkit.runtime import ProviderUnavailable, Runtime, available_providers
from ortkit.runtime._providers import _plugin_choice

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
print(json.dumps([[d.ep_name, str(d.device.type).rsplit(".", 1)[-1]] for d in ort.get_ep_devices()]))
"""

# Registering a plugin library is process-wide and cannot be undone while a session may use it,
# so the runtime registers it in a child process; the pytest process never sees it.
_RUNTIME_SCRIPT = r"""
import json, sys
import numpy as np
from ortkit.runtime import ProviderUnavailable, Runtime, available_providers
from ortkit.runtime._providers import _plugin_choice
from ortkit.runtime._providers import _LIBRARIES, _plugin_choice
library, model = sys.argv[1:3]
try:
    rt = Runtime(model, providers="ov_plugin", ep_library={"ov_plugin": library})
except ProviderUnavailable as error:
    print(json.dumps({"error": str(error), "available": available_providers()}))
    sys.exit(0)
y = rt.run({"x": np.ones((2, 5, 8), np.float32)})["y"]
# The same choice whatever order onnxruntime lists the devices in.
devices = list(_LIBRARIES["ov_plugin"][1])
orders = [devices, devices[::-1]] + [devices[i:] + devices[:i] for i in range(1, len(devices))]
picks = {(d.ep_name, str(d.device.type)) for order in orders for d in _plugin_choice("ov_plugin", "ov_plugin", "", tuple(order), {}).devices}
print(json.dumps({"providers": rt.providers, "available": available_providers(), "shape": list(y.shape), "picks": sorted(picks)}))
"""


def _child_json(*args: str) -> object:
    done = subprocess.run([sys.executable, "-c", *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@needs_plugin_api
@pytest.mark.slow
def test_openvino_plugin_library_with_or_without_a_device(openvino_plugin: Path, zoo_like: dict[str, Path]) -> None:
    # Ask onnxruntime itself, in a separate process, what the library offers on this machine.
    listed = _child_json(_DEVICES_SCRIPT, str(openvino_plugin))
    openvino = [(name, kind) for name, kind in listed if name.startswith("OpenVINOExecutionProvider")]
    got = _child_json(_RUNTIME_SCRIPT, str(openvino_plugin), str(zoo_like["tcn"]))
    assert isinstance(got, dict)
    if not openvino:
        # The AMD CPU case: the library loads, adds no device, and the runtime says so at creation.
        assert re.fullmatch(r"EP library 'ov_plugin' \(.*\) loaded but offers no device on this machine, .*", got.get("error", "")), got
        assert "ov_plugin" not in got["available"]
    else:
        # An Intel CPU: the library adds a device per EP variant (OpenVINOExecutionProvider and
        # meta devices such as .AUTO), listed in no fixed order. The spec takes the
        # plain EP, on the CPU when it offers one, in every order.
        assert "error" not in got, got
        assert got["providers"][0] == "OpenVINOExecutionProvider"
        assert "ov_plugin" in got["available"] and got["shape"] == [2, 3]
        kind = "CPU" if ("OpenVINOExecutionProvider", "CPU") in openvino else min(k for n, k in openvino if n == "OpenVINOExecutionProvider")
        assert [(name, typ.rsplit(".", 1)[-1]) for name, typ in got["picks"]] == [("OpenVINOExecutionProvider", kind)]
    assert "ov_plugin" not in available_providers()  # this process registered nothing


# The plugin-device choice on the device lists each outcome produces, whatever order they come in.
# onnxruntime's OrtEpDevice cannot be built from Python, so these records carry the same fields.


class OrtHardwareDeviceType(enum.Enum):
    CPU = 0
    GPU = 1
    NPU = 2


@dataclass(frozen=True)
class _Hardware:
    type: OrtHardwareDeviceType
    vendor_id: int = 0x8086
    device_id: int = 0


@dataclass(frozen=True)
class _EpDevice:
    ep_name: str
    device: _Hardware
    ep_vendor: str = "Intel"


_OV = "OpenVINOExecutionProvider"
CPU, GPU = OrtHardwareDeviceType.CPU, OrtHardwareDeviceType.GPU
# What the OpenVINO plugin offers on an Intel machine with an integrated GPU: each EP variant (its
# source creates one per supported meta device: AUTO, HETERO, MULTI) on each device; on a CPU-only
# Xeon the GPU rows are absent.
INTEL_DEVICES = (
    _EpDevice(f"{_OV}.AUTO", _Hardware(CPU)), _EpDevice(_OV, _Hardware(CPU)), _EpDevice(f"{_OV}.HETERO", _Hardware(CPU)),
    _EpDevice(f"{_OV}.MULTI", _Hardware(CPU)), _EpDevice(f"{_OV}.AUTO", _Hardware(GPU, device_id=0x56A0)),
    _EpDevice(_OV, _Hardware(GPU, device_id=0x56A0)),
)


def _orders(devices: tuple[_EpDevice, ...]) -> list[tuple[_EpDevice, ...]]:
    rng = random.Random(0)
    orders = [devices, devices[::-1]]
    for _ in range(30):
        orders.append(tuple(rng.sample(devices, len(devices))))
    return orders


@pytest.mark.parametrize(("suffix", "expected"), [("", [(_OV, CPU)]), ("CPU", [(_OV, CPU)]), ("gpu", [(_OV, GPU)]), ("0", [(_OV, CPU)])])
def test_plugin_device_choice_does_not_depend_on_the_listed_order(suffix: str, expected: list[tuple[str, OrtHardwareDeviceType]]) -> None:
    spec = f"ov_plugin:{suffix}" if suffix else "ov_plugin"
    for devices in _orders(INTEL_DEVICES):
        choice = _plugin_choice(spec, "ov_plugin", suffix, devices, {})
        assert [(d.ep_name, d.device.type) for d in choice.devices] == expected, devices
        assert choice.name == _OV and choice.is_plugin


def test_plugin_device_index_and_type_errors_name_what_is_offered() -> None:
    cpu_only = INTEL_DEVICES[:4]  # a CPU-only Xeon
    seen = {_plugin_choice("ov_plugin:3", "ov_plugin", "3", order, {}).devices for order in _orders(cpu_only)}
    assert seen == {(_EpDevice(f"{_OV}.MULTI", _Hardware(CPU)),)}
    with pytest.raises(ProviderUnavailable, match=r"EP spec 'ov_plugin:4': the library 'ov_plugin' offers 4 device\(s\)"):
        _plugin_choice("ov_plugin:4", "ov_plugin", "4", cpu_only, {})
    with pytest.raises(ProviderUnavailable, match=r"EP spec 'ov_plugin:NPU': the library 'ov_plugin' offers devices of type CPU, GPU$"):
        _plugin_choice("ov_plugin:NPU", "ov_plugin", "NPU", INTEL_DEVICES, {})


def test_a_plugin_without_a_cpu_device_starts_with_its_first_device_type() -> None:
    # A GPU-only plugin (and the variant-free order within a type) still gives one fixed choice.
    gpus = (_EpDevice("VendorEP", _Hardware(GPU, device_id=2)), _EpDevice("VendorEP", _Hardware(GPU, device_id=1)))
    for devices in _orders(gpus):
        assert _plugin_choice("v", "v", "", devices, {}).devices == (gpus[1],)
        assert _plugin_choice("v:gpu", "v", "gpu", devices, {}).devices == (gpus[1], gpus[0])


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
