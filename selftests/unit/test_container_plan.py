"""What the docker target would start, checked without an engine: the seed's `docker run` as data."""
from __future__ import annotations

from pathlib import Path

import pytest

from phi4mm_acceptance.deployment.launch.container import plan_container
from phi4mm_acceptance.deployment.settings import raw_values, resolve_settings


def settings_for(**cli: str):
    return resolve_settings(raw_values({f"phi4mm_{k}": v for k, v in cli.items()}, {})).launch


def test_atlas_plan_maps_npus_driver_cache_and_env() -> None:
    plan = plan_container(settings_for(profile="atlas-800i-a2", npus="0,3", host_root="/stand/in"), 8123, "run1")
    assert plan.image == "quay.io/ascend/vllm-ascend:v0.23.0" and plan.name == "phi4mm-acceptance-run1"
    assert plan.devices == ["/stand/in/dev/davinci0:/dev/davinci0:rwm", "/stand/in/dev/davinci3:/dev/davinci3:rwm",
                            "/stand/in/dev/davinci_manager:/dev/davinci_manager:rwm",
                            "/stand/in/dev/devmm_svm:/dev/devmm_svm:rwm", "/stand/in/dev/hisi_hdc:/dev/hisi_hdc:rwm"]
    assert plan.volumes["/stand/in/usr/local/bin/npu-smi"] == {"bind": "/usr/local/bin/npu-smi", "mode": "ro"}
    assert plan.volumes["/stand/in/root/.cache"] == {"bind": "/root/.cache", "mode": "rw"}
    assert plan.environment == {"PYTORCH_NPU_ALLOC_CONF": "max_split_size_mb:256", "ASCEND_RT_VISIBLE_DEVICES": "0,1",
                                "HF_HUB_OFFLINE": "1"}  # passed through from the self-tests' environment
    assert plan.shm_size == "1g" and plan.gpu_ids == []
    assert plan.command[:4] == ["vllm", "serve", "microsoft/Phi-4-multimodal-instruct", "--host"]
    assert "--port" in plan.command and plan.command[plan.command.index("--port") + 1] == "8123"
    assert plan.labels["phi4mm-acceptance.port"] == "8123"
    kwargs = plan.run_kwargs()
    assert kwargs["network_mode"] == "host" and kwargs["detach"] and "device_requests" not in kwargs


def test_cuda_plan_requests_gpus_instead_of_device_files() -> None:
    plan = plan_container(settings_for(profile="cuda", npus="1"), 8000, "r")
    assert plan.devices == [] and plan.gpu_ids == ["1"]
    assert plan.environment["CUDA_VISIBLE_DEVICES"] == "0"
    request = plan.run_kwargs()["device_requests"][0]
    assert request["DeviceIDs"] == ["1"] and request["Capabilities"] == [["gpu"]]


def test_model_path_and_hf_cache_are_mounted_and_served(tmp_path: Path) -> None:
    snapshot = tmp_path / "phi4mm-snapshot"
    snapshot.mkdir()
    plan = plan_container(settings_for(profile="atlas-800i-a2", model_path=str(snapshot),
                                       hf_cache=str(tmp_path / "hub")), 8000, "r")
    assert plan.volumes[str(snapshot)] == {"bind": "/models/phi4mm-snapshot", "mode": "ro"}
    assert plan.volumes[str(tmp_path / "hub")] == {"bind": "/root/.cache/huggingface/hub", "mode": "rw"}
    assert plan.command[2] == "/models/phi4mm-snapshot"


def test_token_is_passed_in_but_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_NeverPrintThisToken123")
    plan = plan_container(settings_for(profile="atlas-800i-a2"), 8000, "r")
    assert plan.environment["HF_TOKEN"] == "hf_NeverPrintThisToken123"
    assert "hf_NeverPrintThisToken123" not in repr(plan)
