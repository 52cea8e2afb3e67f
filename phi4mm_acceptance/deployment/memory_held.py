"""A second witness, beside the engine's device_config line, that a server a profile certifies on accelerators
runs on them: the host's own `npu-smi info` (or `nvidia-smi`) before the server starts and once it is
ready. vLLM holds its weights and KV cache (--gpu-memory-utilization of the device memory, 0.9 by default;
vllm-ascend alike in HBM) on every device it serves on, so a ready server whose devices gained no memory is not
running on them: a setup problem, and the run certifies nothing.
"""
from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from phi4mm_acceptance.deployment.device import DEVICE_OF_HARDWARE
from phi4mm_acceptance.deployment.settings import LaunchSettings
from phi4mm_acceptance.deployment.telemetry import (
    NVIDIA_QUERY,
    DeviceSample,
    command_reader,
    npu_samples,
    nvidia_samples,
)

MIN_HELD_MB = 1024  # far below any model's weights: Phi-4-multimodal's alone are ~11 GB in bf16


@dataclass
class MemoryWatch:
    """`read` runs the host's tool, `parse` reads its devices; `first` is the reading from before the start."""

    read: Callable[[], str]
    parse: Callable[[str], list[DeviceSample]]
    devices: tuple[int, ...]
    name: str  # how the tool names a device: NPU, GPU
    first: dict[int, int] | None = None  # device -> memory used, MB

    def read_before_start(self) -> str:
        """The tool's reading before the server starts (the NPU pre-flight's own), kept to compare with."""
        text = self.read()
        self.first = self._used(text)
        return text

    def _used(self, text: str) -> dict[int, int]:
        return {sample.device: sample.memory_used_mb for sample in self.parse(text)}

    def problem_once_ready(self) -> str | None:
        """Why the ready server holds no memory on its devices, or None (it does, or nothing was read before)."""
        if not self.first or not self.devices:
            return None
        try:
            now = self._used(self.read())
        except (RuntimeError, OSError, subprocess.TimeoutExpired):
            return None  # the tool failing now tells nothing of the server: the device_config line still does
        held = {device: now[device] - self.first[device] for device in self.devices
                if device in now and device in self.first}
        if not held or max(held.values()) >= MIN_HELD_MB:
            return None
        readings = ", ".join(f"{self.name} {device} {self.first[device]} -> {now[device]} MB" for device in held)
        return (f"the server is ready but holds no memory on the {self.name}s it was given (memory used before it "
                f"started and now: {readings}); vLLM keeps its weights and KV cache in the memory of every device "
                f"it serves on, so it does not run on them and this run certifies nothing")


def memory_watch(launch: LaunchSettings, npu_smi: Callable[[], str] | None) -> MemoryWatch | None:
    """The watch for a profile whose hardware is an accelerator, served on this host (docker or process target): npu-smi's
    HBM for NPUs (when the host has npu-smi), nvidia-smi's memory for CUDA GPUs (when on PATH); else None."""
    device = DEVICE_OF_HARDWARE.get(launch.profile.hardware)
    if device == "npu" and npu_smi is not None:
        return MemoryWatch(npu_smi, npu_samples, launch.devices, "NPU")
    if device == "cuda" and shutil.which("nvidia-smi"):
        return MemoryWatch(command_reader(["nvidia-smi", *NVIDIA_QUERY]), nvidia_samples, launch.devices, "GPU")
    return None
