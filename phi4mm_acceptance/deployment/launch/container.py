"""The seed's `docker run` as data: image, devices, mounts, shm, env and labels for one run's container.

Pure (no Docker calls), so what the suite would start can be checked and tested without an engine.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docker.types import DeviceRequest

from phi4mm_acceptance.deployment.launch.command import serve_command, server_env
from phi4mm_acceptance.deployment.settings import LaunchSettings

SUITE_LABEL = "phi4mm-acceptance"
CONTAINER_HUB_CACHE = "/root/.cache/huggingface/hub"
CONTAINER_MODEL_DIR = "/models"
PASSED_THROUGH_ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HF_ENDPOINT")


@dataclass(frozen=True)
class ContainerPlan:
    image: str
    name: str
    command: list[str]
    devices: list[str]  # "host:container:rwm", as docker's --device
    volumes: dict[str, dict[str, str]]  # host path -> {"bind": container path, "mode": "ro" | "rw"}
    gpu_ids: list[str]
    shm_size: str
    labels: dict[str, str]
    host_paths: list[Path]  # device files and driver paths that must exist on the host
    environment: dict[str, str] = field(repr=False)  # may hold a token: never printed

    def run_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for docker-py's containers.run (detached, host network)."""
        kwargs: dict[str, Any] = {
            "image": self.image, "command": self.command, "name": self.name, "labels": self.labels,
            "devices": self.devices, "volumes": self.volumes, "shm_size": self.shm_size,
            "environment": self.environment, "network_mode": "host", "detach": True,
        }
        if self.gpu_ids:
            kwargs["device_requests"] = [DeviceRequest(device_ids=self.gpu_ids, capabilities=[["gpu"]])]
        return kwargs


def on_host(launch: LaunchSettings, path: str) -> Path:
    """A host path under --host-root (stand-in device nodes and driver files in tests)."""
    return launch.host_root / path.lstrip("/")


def host_hub_cache(launch: LaunchSettings) -> Path:
    """Where the container's Hugging Face cache lives on the host: --hf-cache, else the shared /root/.cache."""
    return launch.hf_cache or on_host(launch, CONTAINER_HUB_CACHE)


def container_volumes(launch: LaunchSettings) -> dict[str, dict[str, str]]:
    """The profile's driver (read-only) and shared (read-write) mounts, --hf-cache over the container's hub
    cache, and a --model-path folder at /models/NAME (read-only)."""
    spec = launch.profile.container
    assert spec is not None
    volumes = {str(on_host(launch, path)): {"bind": path, "mode": "ro"} for path in spec.read_only_mounts}
    volumes |= {str(on_host(launch, path)): {"bind": path, "mode": "rw"} for path in spec.shared_mounts}
    if launch.hf_cache:
        volumes[str(launch.hf_cache)] = {"bind": CONTAINER_HUB_CACHE, "mode": "rw"}
    if launch.model_path:
        volumes[str(launch.model_path)] = {"bind": f"{CONTAINER_MODEL_DIR}/{launch.model_path.name}", "mode": "ro"}
    return volumes


def seen_inside(launch: LaunchSettings, host_path: Path) -> str | None:
    """`host_path` as the container sees it through one of its mounts (the deepest that holds it), None when
    none does: a tool run inside must be given this path, not the host's."""
    wanted = host_path.resolve()
    holders = [(Path(host).resolve(), mount["bind"]) for host, mount in container_volumes(launch).items()
               if wanted.is_relative_to(Path(host).resolve())]
    if not holders:
        return None
    host, bind = max(holders, key=lambda holder: len(holder[0].parts))
    return str(Path(bind) / wanted.relative_to(host))


def plan_container(launch: LaunchSettings, port: int, run_id: str, model_dir: str | None = None) -> ContainerPlan:
    """`model_dir`: the snapshot folder as the container sees it, for profiles whose arguments name it."""
    spec = launch.profile.container
    if spec is None or launch.image is None:
        raise ValueError(f"profile {launch.profile.name!r} has no [container] table")
    device_paths = [spec.device_file.format(n=n) for n in launch.devices] if spec.accelerator == "npu" else []
    device_paths += list(spec.extra_devices)
    devices = [f"{on_host(launch, path)}:{path}:rwm" for path in device_paths]
    model = f"{CONTAINER_MODEL_DIR}/{launch.model_path.name}" if launch.model_path else None
    environment = {**server_env(launch),
                   spec.visible_devices_env: ",".join(str(i) for i in range(len(launch.devices)))}
    environment |= {name: os.environ[name] for name in PASSED_THROUGH_ENV if os.environ.get(name)}
    return ContainerPlan(
        image=launch.image,
        name=f"{SUITE_LABEL}-{run_id}",
        command=serve_command(launch, port, model, model_dir),
        devices=devices,
        volumes=container_volumes(launch),
        gpu_ids=[str(n) for n in launch.devices] if spec.accelerator == "gpu" else [],
        shm_size=spec.shm_size,
        labels={SUITE_LABEL: "1", f"{SUITE_LABEL}.run": run_id, f"{SUITE_LABEL}.port": str(port),
                f"{SUITE_LABEL}.profile": launch.profile.name},
        host_paths=[on_host(launch, p) for p in [*device_paths, *spec.read_only_mounts]],
        environment=environment,
    )

