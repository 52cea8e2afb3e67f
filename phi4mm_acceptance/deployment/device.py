"""The hardware a server really runs on, as its own start-up log says, against the hardware its profile names.

A hardware profile's `docker run` shape or command line does not make a server use the accelerators: a vLLM
that falls back to the CPU inside the Atlas 800I A2's container still becomes ready and answers. vLLM prints
the device in its engine's config line (`Initializing a V1 LLM engine (v0.32.0) with config: ...,
device_config=cpu, ...`; vllm-ascend's says `npu`), so a run can tell without trusting the host's tools.
Source: VllmConfig.__str__ prints `device_config={self.device_config.device}` (config/vllm.py, read in the
0.23.0 and 0.32.0 wheels; measured in 0.32's log: `device_config=cpu`); the device is the platform's
device_type: vllm-ascend's NPUPlatform `npu`, vLLM's CUDA platform `cuda`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

DEVICE_OF_HARDWARE = {"atlas-800i-a2": "npu", "atlas-800-a3": "npu", "cuda": "cuda", "cpu": "cpu"}
DEVICE_CONFIG = re.compile(r"\bdevice_config=(?:DeviceConfig\(device=)?'?([a-z]+)")


@dataclass(frozen=True)
class DeviceSeen:
    """What the server's log says it runs on: `device`, or None with `why` it cannot be told."""

    device: str | None
    why: str = ""

    def describe(self) -> str:
        return self.device or f"unknown ({self.why})"


def device_in_log(lines: list[str]) -> DeviceSeen:
    """The device of the engine's config line; the last one, should the engine have restarted."""
    found = [match[1] for line in lines for match in DEVICE_CONFIG.finditer(line)]
    if found:
        return DeviceSeen(found[-1])
    return DeviceSeen(None, "the server's log has no engine config line with device_config")


def hardware_mismatch(hardware: str, profile: str, seen: DeviceSeen) -> str | None:
    """Why the server does not run on the hardware its profile certifies, or None (it does, or the profile
    names no accelerator, or the log cannot tell: then the run says "unknown")."""
    expected = DEVICE_OF_HARDWARE.get(hardware)
    if expected is None or seen.device is None or seen.device == expected:
        return None
    return (f"profile {profile!r} certifies {hardware} ({expected}), but the server's start-up log says "
            f"device_config={seen.device}: it does not run on that hardware, so this run certifies nothing "
            f"(check the devices given to it and its platform plug-in, e.g. vllm-ascend for NPUs)")
