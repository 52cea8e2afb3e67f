"""A container start cut short leaves no container: the engine may create it before docker-py's answer comes back
(Ctrl-C or a Jenkins abort while `containers.run` waits on a busy engine). The engine here is a stand-in that
creates the container and then fails the call, which no timing of a real engine reproduces on demand."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from docker.errors import APIError, NotFound

from phi4mm_acceptance.deployment.launch import docker as docker_launch
from phi4mm_acceptance.deployment.launch.base import LaunchSpec, ProvisioningError
from phi4mm_acceptance.deployment.launch.container import ContainerPlan


@dataclass
class StandInContainer:
    name: str
    engine: StandInEngine

    def stop(self, timeout: int) -> None:
        pass

    def remove(self, force: bool) -> None:
        del self.engine.created[self.name]


@dataclass
class StandInEngine:
    """Creates the container, then fails `containers.run` with `failure`."""

    failure: BaseException
    created: dict[str, StandInContainer] = field(default_factory=dict)

    @property
    def containers(self) -> StandInEngine:
        return self

    def list(self, **_: object) -> list[StandInContainer]:
        return []

    def run(self, name: str, **_: object) -> StandInContainer:
        self.created[name] = StandInContainer(name, self)
        raise self.failure

    def get(self, name: str) -> StandInContainer:
        if name not in self.created:
            raise NotFound(name)
        return self.created[name]


def launcher(tmp_path: Path) -> docker_launch.DockerLauncher:
    spec = LaunchSpec("127.0.0.1", 8000, tmp_path / "server.log", 60, 5, "phi4mm")
    plan = ContainerPlan("phi4mm-sim:latest", "phi4mm-acceptance-run", ["vllm", "serve"], [], {}, [], "1g", {}, [],
                         {})
    return docker_launch.DockerLauncher(spec, plan, no_pull=True, preflight=list)


@pytest.mark.parametrize(("failure", "raised"), [
    (KeyboardInterrupt(), KeyboardInterrupt),
    (APIError("500 Server Error: cannot start container"), ProvisioningError),
], ids=["ctrl-c", "docker-error"])
def test_a_start_cut_short_removes_the_container_the_engine_created(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: BaseException, raised: type) -> None:
    engine = StandInEngine(failure)
    monkeypatch.setattr(docker_launch, "connect_docker", lambda: engine)
    monkeypatch.setattr(docker_launch.DockerLauncher, "_ensure_image", lambda self, client: None)
    with pytest.raises(raised):
        launcher(tmp_path).start()
    assert engine.created == {}
