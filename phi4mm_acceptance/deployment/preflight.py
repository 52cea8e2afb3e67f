"""Checks before a container is created: devices and driver files on the host, NPU health and free HBM,
and the port. Every problem is named at once, in one line, and nothing is started when there is one.
"""
from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from phi4mm_acceptance.deployment.launch.ports import port_in_use
from phi4mm_acceptance.deployment.npu_smi import HEALTHY, NpuStatus, parse_npu_smi_info


def missing_host_paths(paths: list[Path]) -> list[str]:
    missing = [str(path) for path in paths if not path.exists()]
    return [f"missing on the host: {', '.join(missing)}"] if missing else []


def npu_problems(statuses: dict[int, NpuStatus], npus: tuple[int, ...], min_free_hbm_mb: int) -> list[str]:
    problems = []
    for npu in npus:
        status = statuses.get(npu)
        if status is None:
            problems.append(f"NPU {npu} is not listed by npu-smi")
        elif status.health != HEALTHY:
            problems.append(f"NPU {npu} health is {status.health}")
        elif status.hbm_free_mb < min_free_hbm_mb:
            problems.append(f"NPU {npu} has {status.hbm_free_mb} MB HBM free, the profile needs {min_free_hbm_mb} MB "
                            f"({status.hbm_used_mb} MB in use by other processes?)")
    return problems


def read_npu_smi(npu_smi: Path) -> Callable[[], str] | None:
    """A reader for `npu-smi info` when the tool is on this host, else None (the check is skipped)."""
    if not (npu_smi.is_file() and os.access(npu_smi, os.X_OK)):
        return None

    def run() -> str:
        done = subprocess.run([str(npu_smi), "info"], capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"`npu-smi info` failed with exit code {done.returncode}: {done.stderr.strip()[:200]}")
        return done.stdout

    return run


def preflight_problems(host_paths: list[Path], npus: tuple[int, ...], min_free_hbm_mb: int,
                       npu_smi: Callable[[], str] | None, host: str, port: int) -> list[str]:
    problems = missing_host_paths(host_paths)
    if npu_smi is not None and npus:
        try:
            problems += npu_problems(parse_npu_smi_info(npu_smi()), npus, min_free_hbm_mb)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            problems.append(str(exc))
    if port_in_use(host, port):
        problems.append(f"port {port} on {host} is already in use")
    return problems
