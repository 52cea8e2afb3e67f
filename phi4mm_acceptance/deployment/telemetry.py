"""Accelerator telemetry during a load: `npu-smi info` (or `nvidia-smi`) sampled in the background, reduced
to peak memory used and mean utilisation per device, and any health change.
"""
from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from phi4mm_acceptance.deployment.launch.container import on_host
from phi4mm_acceptance.deployment.npu_smi import parse_npu_smi_info
from phi4mm_acceptance.deployment.settings import LaunchSettings


@dataclass(frozen=True)
class DeviceSample:
    device: int
    memory_used_mb: int
    utilisation_pct: int
    health: str


def npu_samples(text: str) -> list[DeviceSample]:
    return [DeviceSample(s.npu, s.hbm_used_mb, s.aicore_percent, s.health)
            for s in parse_npu_smi_info(text).values()]


NVIDIA_QUERY = ["--query-gpu=index,memory.used,utilization.gpu", "--format=csv,noheader,nounits"]


def nvidia_samples(text: str) -> list[DeviceSample]:
    samples = []
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            samples.append(DeviceSample(int(parts[0]), int(parts[1]), int(parts[2]), "OK"))
    return samples


def command_reader(command: list[str]) -> Callable[[], str]:
    def read() -> str:
        return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False).stdout

    return read


@dataclass
class TelemetrySampler:
    """Samples every interval_s from a background thread between start() and stop()."""

    read: Callable[[], str]
    parse: Callable[[str], list[DeviceSample]]
    devices: tuple[int, ...]
    interval_s: float = 1.0
    samples: list[list[DeviceSample]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _sample(self) -> None:
        try:
            found = self.parse(self.read())
        except (OSError, subprocess.SubprocessError):
            return
        self.samples.append([s for s in found if s.device in self.devices])

    def _loop(self) -> None:
        while True:
            self._sample()
            if self._stop.wait(self.interval_s):
                return

    def __enter__(self) -> TelemetrySampler:
        self._thread = threading.Thread(target=self._loop, name="telemetry", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=35)
        self._sample()

    def figures(self) -> dict[str, object]:
        """peak_memory_mb_dev<N>, mean_utilisation_pct_dev<N>, and health_changes (empty when none)."""
        figures: dict[str, object] = {"telemetry_samples": len(self.samples)}
        changes = []
        for device in self.devices:
            series = [s for sample in self.samples for s in sample if s.device == device]
            if not series:
                continue
            figures[f"peak_memory_mb_dev{device}"] = max(s.memory_used_mb for s in series)
            figures[f"mean_utilisation_pct_dev{device}"] = round(sum(s.utilisation_pct for s in series) / len(series), 1)
            healths = [s.health for s in series]
            changes += [f"device {device}: {a} -> {b}" for a, b in zip(healths, healths[1:]) if a != b]
        figures["health_changes"] = "; ".join(changes)
        return figures


def sampler_for(launch: LaunchSettings) -> TelemetrySampler | None:
    """npu-smi for NPU profiles (on the host, under --host-root), nvidia-smi for GPU ones; none for the
    simulator or an external server (its host is not this one)."""
    spec = launch.profile.container
    if spec is None or launch.target not in ("docker", "process"):
        return None
    if spec.accelerator == "npu":
        npu_smi = on_host(launch, "/usr/local/bin/npu-smi")
        if npu_smi.is_file():
            return TelemetrySampler(command_reader([str(npu_smi), "info"]), npu_samples, launch.devices)
    elif shutil.which("nvidia-smi"):
        return TelemetrySampler(command_reader(["nvidia-smi", *NVIDIA_QUERY]), nvidia_samples, launch.devices)
    return None
