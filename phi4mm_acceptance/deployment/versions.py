"""The versions that decide an Atlas release, read where the host and the server's container tell them: the
NPU driver and firmware from the host's install files, vllm-ascend and CANN from inside the serving container.
Each is the version, or "unknown: why" where it cannot be read, or "n/a: why" where it does not apply, so a
report never leaves a blank a reader could take for "checked".
"""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from phi4mm_acceptance.deployment.device import DEVICE_OF_HARDWARE

DRIVER_VERSION_INFO = "/usr/local/Ascend/driver/version.info"  # mounted into the container by the seed's command
FIRMWARE_VERSION_INFO = "/usr/local/Ascend/firmware/version.info"
CANN_VERSION_INFO = "/usr/local/Ascend/ascend-toolkit/latest/compiler/version.info"  # CANN's toolkit, in the image
VERSION_LINE = re.compile(r"^\s*Version\s*=\s*(\S+)", re.MULTILINE | re.IGNORECASE)
VLLM_ASCEND = ["python3", "-c", "import importlib.metadata as m; print(m.version('vllm-ascend'))"]
Exec = Callable[[list[str]], tuple[int, str]]  # a command run inside the serving container: exit code, output


def version_in(text: str) -> str | None:
    """`Version=25.2.0` (the Ascend install files' format) -> 25.2.0."""
    match = VERSION_LINE.search(text)
    return match[1] if match else None


def host_file_version(path: Path, shown_as: str) -> str:
    try:
        found = version_in(path.read_text(errors="replace"))
    except OSError as exc:
        return f"unknown: {shown_as} not readable ({exc.strerror or exc})"
    return found or f"unknown: {shown_as} has no Version= line"


def npu_host_versions(hardware: str, target: str, on_host: Callable[[str], Path]) -> dict[str, str]:
    """The NPU driver and firmware, as the host's install files say."""
    if DEVICE_OF_HARDWARE.get(hardware) != "npu":
        return dict.fromkeys(("npu_driver", "npu_firmware"), f"n/a: profile hardware {hardware} has no NPU")
    if target == "external":
        return dict.fromkeys(("npu_driver", "npu_firmware"), "unknown: an external server's host is not this one")
    return {"npu_driver": host_file_version(on_host(DRIVER_VERSION_INFO), DRIVER_VERSION_INFO),
            "npu_firmware": host_file_version(on_host(FIRMWARE_VERSION_INFO), FIRMWARE_VERSION_INFO)}


def container_versions(hardware: str, run: Exec | None) -> dict[str, str]:
    """vllm-ascend and CANN, asked of the serving container; without one (a process or external target) they
    are unknown, as the server's own environment is not the suite's."""
    if DEVICE_OF_HARDWARE.get(hardware) != "npu":
        return dict.fromkeys(("vllm_ascend", "cann"), f"n/a: profile hardware {hardware} has no NPU")
    if run is None:
        return dict.fromkeys(("vllm_ascend", "cann"), "unknown: read from the serving container (--target docker)")
    code, output = run(VLLM_ASCEND)
    lines = output.strip().splitlines()
    vllm_ascend = lines[-1] if code == 0 and lines else f"unknown: the container has no vllm-ascend package ({code})"
    code, output = run(["cat", CANN_VERSION_INFO])
    cann = (version_in(output) if code == 0 else None) or f"unknown: no {CANN_VERSION_INFO} in the container"
    return {"vllm_ascend": vllm_ascend, "cann": cann}


def snapshot_revision(model_dir: str | None, model_path: Path | None, target: str, simulated: bool) -> str:
    """The weights' revision: a Hugging Face cache snapshot's folder name is its commit."""
    if simulated:
        return "n/a: the simulator loads no weights"
    if target == "external":
        return "unknown: an external server's weights are not visible to the suite"
    if model_path is not None:
        return f"unknown: a local folder ({model_path}), not a hub snapshot"
    if model_dir and Path(model_dir).parent.name == "snapshots":
        return Path(model_dir).name
    return "unknown: no hub snapshot was loaded" if model_dir is None else f"unknown: {model_dir} is no hub snapshot"
