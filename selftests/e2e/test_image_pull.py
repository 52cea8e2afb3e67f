"""The docker target pulls an image this host lacks, as it would pull quay.io/ascend/vllm-ascend: here from a
private registry on this host (Debian's docker-registry, as an Atlas site mirrors quay.io) that holds the
simulator image. A tag the registry lacks is one clear error and no container.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from docker.errors import ImageNotFound

from phi4mm_acceptance.deployment.launch.ports import free_port
from phi4mm_acceptance.deployment.launch.process import stop_process_group
from selftests.docker_stage import IMAGE, docker_args, suite_containers
from selftests.standin_host import make_standin_host
from selftests.suite_run import run_suite

pytestmark = pytest.mark.e2e
REGISTRY_CONFIG = """version: 0.1
storage:
  filesystem:
    rootdirectory: {root}
http:
  addr: 127.0.0.1:{port}
"""


def wait_for_registry(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"docker-registry did not answer {url}: {log.read_text()[-500:]}")


@pytest.fixture(scope="module")
def registry(sim_image_engine: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The repository `127.0.0.1:<port>/ascend/vllm-ascend` with the simulator image pushed as tag `sim` (no
    container: the tests take the engine in turns only to run theirs)."""
    binary = shutil.which("docker-registry")
    if binary is None:
        message = "needs Debian's docker-registry (scripts/selftest installs it as root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    root = tmp_path_factory.mktemp("registry")
    port = free_port("127.0.0.1")
    (root / "config.yml").write_text(REGISTRY_CONFIG.format(root=root / "store", port=port))
    with (root / "registry.log").open("wb") as log:
        process = subprocess.Popen([binary, "serve", str(root / "config.yml")], stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    repository = f"127.0.0.1:{port}/ascend/vllm-ascend"
    try:
        wait_for_registry(f"http://127.0.0.1:{port}/v2/", process, root / "registry.log")
        sim_image_engine.images.get(IMAGE).tag(repository, "sim")
        errors = [e["error"] for e in sim_image_engine.api.push(repository, tag="sim", stream=True, decode=True) if "error" in e]
        assert not errors, f"pushing the simulator image to the registry failed: {errors}"
        untag(sim_image_engine, f"{repository}:sim")
        yield repository
    finally:
        untag(sim_image_engine, f"{repository}:sim")
        stop_process_group(process.pid, 5, process)


def untag(engine: docker.DockerClient, image: str) -> None:
    try:
        engine.images.remove(image)
    except ImageNotFound:
        pass


def test_an_image_missing_on_the_host_is_pulled(tmp_path: Path, port: int, engine: docker.DockerClient,
                                                registry: str) -> None:
    image = f"{registry}:sim"
    host = make_standin_host(tmp_path / "host")
    run = run_suite(tmp_path, "-m", "smoke", "-k", "health", *docker_args(host, port, image=image, pull=True))
    assert run.exit_code == 0, run.describe()
    assert f"pulling {image} (not on this host yet)" in run.output, run.describe()
    assert engine.images.get(image).id == engine.images.get(IMAGE).id
    assert suite_containers(engine) == []


def test_a_tag_the_registry_lacks_is_one_clear_error_and_no_container(tmp_path: Path, port: int,
                                                                      engine: docker.DockerClient,
                                                                      registry: str) -> None:
    image = f"{registry}:v0.0.0-not-pushed"
    host = make_standin_host(tmp_path / "host")
    run = run_suite(tmp_path, "-m", "smoke", *docker_args(host, port, image=image, pull=True))
    run.assert_deployment_failed_once(f"pulling {image} failed: ", "setup problem")
    assert "manifest unknown" in run.cases()["server_start"].message
    assert suite_containers(engine) == []
