"""The docker self-tests' stage: a real Docker engine with the simulator image (or the real vLLM image), the
profile they run and the suite's command line for the docker target against a stand-in Atlas host."""
from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.errors import DockerException

from phi4mm_acceptance.deployment.launch.container import SUITE_LABEL

IMAGE = os.environ.get("PHI4MM_SIM_IMAGE", "phi4mm-sim:latest")
VLLM_CPU_IMAGE = "phi4mm-vllm-cpu:0.32.0"  # selftests/vllm_cpu_image.py, which scripts/selftest runs
DRIVER_MOUNTS = {"/usr/local/dcmi", "/usr/local/bin/npu-smi", "/usr/local/Ascend/driver/lib64",
                 "/usr/local/Ascend/driver/version.info", "/etc/ascend_install.info", "/root/.cache", "/data"}
PROFILE = "atlas-800i-a2-lora"  # as vLLM recommends serving the model; without the adapters the canary fails


def engine_with(image: str) -> Iterator[docker.DockerClient]:
    """The Docker engine and `image`; CI must have both (scripts/selftest provides them)."""
    try:
        client = docker.from_env()
        client.ping()
        client.images.get(image)
    except DockerException as exc:
        message = f"needs a Docker engine with image {image} (scripts/selftest sets both up as root): {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    yield client
    client.close()


@contextmanager
def engine_to_ourselves(client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """An exclusive lock on the engine for one test: a docker test judges every container the engine has (none
    may be left), so one on the other xdist worker waits its turn. The lock file sits beside the workers'
    temporary folders, which their session shares. A container the test leaves behind fails that test and is
    removed, so the tests after it judge their own."""
    with (tmp_path_factory.getbasetemp().parent / "docker-engine.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
        left = suite_containers(client)
        for name in left:
            client.api.remove_container(name, force=True)
        if left:
            pytest.fail(f"the suite left containers behind: {', '.join(left)}", pytrace=False)


@pytest.fixture(scope="module")
def sim_image_engine() -> Iterator[docker.DockerClient]:
    yield from engine_with(IMAGE)


@pytest.fixture(scope="module")
def vllm_cpu_image_engine() -> Iterator[docker.DockerClient]:
    yield from engine_with(VLLM_CPU_IMAGE)


@pytest.fixture
def engine(sim_image_engine: docker.DockerClient,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[docker.DockerClient]:
    with engine_to_ourselves(sim_image_engine, tmp_path_factory):
        yield sim_image_engine


@pytest.fixture
def vllm_cpu_engine(vllm_cpu_image_engine: docker.DockerClient,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[docker.DockerClient]:
    with engine_to_ourselves(vllm_cpu_image_engine, tmp_path_factory):
        yield vllm_cpu_image_engine


def suite_containers(client: docker.DockerClient, **filters: str) -> list[str]:
    """The names of the suite's containers, from one listing: the SDK's containers.list() then inspects each one,
    which fails (404) for a container the suite removes in between (measured in a CI run: the interrupt test's
    poll while its run was starting up)."""
    return [c["Names"][0].lstrip("/") for c in client.api.containers(all=True, filters={"label": SUITE_LABEL, **filters})]


def docker_args(host_root: Path, port: int, *extra: str, image: str = IMAGE, pull: bool = False,
                profile: str = PROFILE) -> tuple[str, ...]:
    return ("--target", "docker", "--profile", profile, f"--image={image}", *(() if pull else ("--no-pull",)),
            f"--host-root={host_root}", "--port", str(port), *extra)


@contextmanager
def first_suite_container(client: docker.DockerClient) -> Iterator[dict[str, Any]]:
    """What `docker inspect` and `docker top` show of the first container the suite starts, caught while it
    runs (the suite removes it afterwards): its attributes plus "processes", the command lines inside."""
    seen: dict[str, Any] = {}
    done = threading.Event()

    def watch() -> None:
        while not done.wait(1):
            for name in suite_containers(client, status="running"):
                try:
                    container = client.containers.get(name)
                    top = container.top(ps_args="-eo pid,args")
                    processes = [row[top["Titles"].index("COMMAND")] for row in top["Processes"]]
                    if any(" serve " in line for line in processes):
                        seen.update(container.attrs, processes=processes)
                        return
                except DockerException:
                    continue  # gone between the listing and the question

    watcher = threading.Thread(target=watch, name="container-watch", daemon=True)
    watcher.start()
    try:
        yield seen
    finally:
        done.set()
        watcher.join(10)
