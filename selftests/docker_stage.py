"""The docker self-tests' stage: a real Docker engine with the simulator image, the profile they run and
the suite's command line for the docker target against a stand-in Atlas host."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from docker.errors import DockerException

from phi4mm_acceptance.launch.container import SUITE_LABEL

IMAGE = os.environ.get("PHI4MM_SIM_IMAGE", "phi4mm-sim:latest")
DRIVER_MOUNTS = {"/usr/local/dcmi", "/usr/local/bin/npu-smi", "/usr/local/Ascend/driver/lib64",
                 "/usr/local/Ascend/driver/version.info", "/etc/ascend_install.info", "/root/.cache", "/data"}
PROFILE = "atlas-800i-a2-lora"  # as vLLM recommends serving the model; without the adapters the canary fails


@pytest.fixture(scope="module")
def engine() -> Iterator[docker.DockerClient]:
    """The Docker engine and the simulator image; CI must have both (scripts/selftest provides them)."""
    try:
        client = docker.from_env()
        client.ping()
        client.images.get(IMAGE)
    except DockerException as exc:
        message = f"needs a Docker engine with image {IMAGE} (scripts/selftest sets both up as root): {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    yield client
    client.close()


def suite_containers(client: docker.DockerClient) -> list[str]:
    return [c.name for c in client.containers.list(all=True, filters={"label": SUITE_LABEL})]


def docker_args(host_root: Path, port: int, *extra: str, image: str = IMAGE, pull: bool = False) -> tuple[str, ...]:
    return ("--target", "docker", "--profile", PROFILE, f"--image={image}", *(() if pull else ("--no-pull",)),
            f"--host-root={host_root}", "--port", str(port), *extra)
