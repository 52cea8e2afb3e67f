"""The versions a sign-off names, each read where it can be, or unknown / n/a with why."""
from __future__ import annotations

from pathlib import Path

from phi4mm_acceptance.deployment.versions import (
    CANN_VERSION_INFO,
    container_versions,
    npu_host_versions,
    snapshot_revision,
    version_in,
)


def test_the_ascend_install_files_version_line_is_read() -> None:
    assert version_in("Version=25.2.0\nascendhal_version=7.35.23\n") == "25.2.0"
    assert version_in("package_name=Ascend-cann-toolkit\nversion=8.2.RC1\n") == "8.2.RC1"
    assert version_in("nothing here") is None


def test_the_npu_driver_and_firmware_come_from_the_host_or_say_why_not(tmp_path: Path) -> None:
    driver = tmp_path / "usr/local/Ascend/driver/version.info"
    driver.parent.mkdir(parents=True)
    driver.write_text("Version=25.2.0\n")
    found = npu_host_versions("atlas-800i-a2", "docker", lambda path: tmp_path / path.lstrip("/"))
    assert found["npu_driver"] == "25.2.0"
    assert found["npu_firmware"].startswith("unknown: /usr/local/Ascend/firmware/version.info not readable")
    assert npu_host_versions("atlas-800i-a2", "external", Path)["npu_driver"].startswith("unknown: an external")
    assert npu_host_versions("cuda", "process", Path) == dict.fromkeys(
        ("npu_driver", "npu_firmware"), "n/a: profile hardware cuda has no NPU")


def test_vllm_ascend_and_cann_are_asked_of_the_serving_container() -> None:
    answers = {"python3": (0, "0.23.0\n"), "cat": (0, "Version=8.2.RC1\n")}
    assert container_versions("atlas-800-a3", lambda command: answers[command[0]]) == {
        "vllm_ascend": "0.23.0", "cann": "8.2.RC1"}
    missing = container_versions("atlas-800-a3", lambda command: (1, "No such file"))
    assert missing["vllm_ascend"].startswith("unknown: the container has no vllm-ascend")
    assert missing["cann"] == f"unknown: no {CANN_VERSION_INFO} in the container"
    assert container_versions("atlas-800-a3", None)["cann"].startswith("unknown: read from the serving container")


def test_the_weights_revision_is_the_hub_snapshots_folder() -> None:
    snapshot = "/root/.cache/huggingface/hub/models--microsoft--Phi-4-multimodal-instruct/snapshots/0af439b3adb8"
    assert snapshot_revision(snapshot, None, "docker", False) == "0af439b3adb8"
    assert snapshot_revision(None, Path("/data/phi4mm"), "process", False).startswith("unknown: a local folder")
    assert snapshot_revision(None, None, "external", False).startswith("unknown: an external server's weights")
    assert snapshot_revision("/sim", None, "sim", True) == "n/a: the simulator loads no weights"
