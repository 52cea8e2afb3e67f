"""What the simulator sees around it, so tests can prove a container got its devices, mounts and env.

Only an allow-list of environment variables is reported: tokens and keys never leave the process.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

REPORTED_ENV = (
    "PYTORCH_NPU_ALLOC_CONF",
    "ASCEND_RT_VISIBLE_DEVICES",
    "HF_HUB_OFFLINE",
    "HF_ENDPOINT",
    "HF_HOME",
    "CUDA_VISIBLE_DEVICES",
)
DEVICE_GLOBS = ("davinci*", "devmm_svm", "hisi_hdc", "nvidia*")


def describe_environment() -> dict[str, Any]:
    devices = sorted({str(p) for pattern in DEVICE_GLOBS for p in Path("/dev").glob(pattern)})
    return {
        "devices": devices,
        "env": {name: os.environ[name] for name in REPORTED_ENV if name in os.environ},
        "hf_token_set": bool(os.environ.get("HF_TOKEN")),
        "mounts": _mount_points(),
        "shm_bytes": _shm_bytes(),
    }


def _mount_points() -> list[str]:
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return []
    return sorted({line.split()[1] for line in lines if len(line.split()) > 1})


def _shm_bytes() -> int | None:
    try:
        stats = os.statvfs("/dev/shm")
    except OSError:
        return None
    return stats.f_blocks * stats.f_frsize
