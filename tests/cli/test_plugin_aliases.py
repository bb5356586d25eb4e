"""Plugin EP aliases: a library registered as ``ov`` is the EP its devices run, in every command.

The plugin EP library on hand (onnxruntime-ep-openvino, tests/eps) offers no device on AMD CPUs,
so these tests give the runtime's registry device records shaped like onnxruntime's OrtEpDevice
(``ep_name`` and ``device.type``): the functions under test read nothing else."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ortkit.runtime import ProviderUnavailable, provider_name
from ortkit.runtime import _providers


def _device(ep_name: str, kind: str) -> SimpleNamespace:
    # The fields of onnxruntime's OrtEpDevice that ortkit reads (it cannot be built from Python).
    hardware = SimpleNamespace(type=f"OrtHardwareDeviceType.{kind}", vendor_id=0x8086, device_id=0)
    return SimpleNamespace(ep_name=ep_name, ep_vendor="Intel", device=hardware)


@pytest.fixture
def ov(monkeypatch: pytest.MonkeyPatch) -> tuple:
    # One library exposing its CPU under two EP names (as a plugin with a legacy and a new EP does).
    devices = (_device("OpenVINOExecutionProvider", "CPU"), _device("OpenVINOExecutionProvider.V2", "CPU"),
               _device("OpenVINOExecutionProvider", "GPU"))
    monkeypatch.setitem(_providers._LIBRARIES, "ov", ("/lib/ov.so", devices))
    return devices


def test_provider_name_of_a_registered_alias_is_the_ep_its_devices_run(ov: tuple) -> None:
    # What the profiler's worker compares with the session's providers: before, "ov" != the
    # session's "OpenVINOExecutionProvider", and every configuration was recorded as skipped.
    assert provider_name("ov") == "OpenVINOExecutionProvider"
    assert provider_name("ov:GPU") == "OpenVINOExecutionProvider"
    assert provider_name("cuda:1") == "CUDAExecutionProvider"
    assert provider_name("unregistered") == "unregistered"


def test_a_device_type_under_two_ep_names_takes_the_first(ov: tuple) -> None:
    choice = _providers._parse("ov:CPU", {})
    assert choice is not None and choice.name == "OpenVINOExecutionProvider"
    assert choice.devices == (ov[0],)  # one EP per session: onnxruntime refuses devices of two EPs


def test_a_device_type_the_library_lacks_is_refused(ov: tuple) -> None:
    with pytest.raises(ProviderUnavailable, match="offers devices of type CPU, GPU"):
        _providers._parse("ov:NPU", {})
