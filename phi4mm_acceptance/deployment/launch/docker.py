"""The docker target: the server in a container started with the docker SDK, as the seed's `docker run`.

Order: daemon reachable, leftovers of an earlier run on this port removed, pre-flight (devices, driver,
NPU health and HBM, port), image present or pulled, then the container; its log is copied to
reports/server.log while readiness follows it. Stopping stops and removes the container, also after a
failed start.
"""
from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.utils import parse_repository_tag

from phi4mm_acceptance.deployment.launch.base import LaunchSpec, ProvisioningError, Server
from phi4mm_acceptance.deployment.launch.container import SUITE_LABEL, ContainerPlan
from phi4mm_acceptance.deployment.logwatch import LogFollower
from phi4mm_acceptance.deployment.readiness import wait_until_ready
from phi4mm_acceptance.protocol.client import probe_health

Echo = Callable[[str], None]


def connect_docker() -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except DockerException as exc:
        where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        if "ermission" in str(exc):
            reason = "permission denied (is this user in the docker group?)"
        elif "No such file" in str(exc) or "onnection refused" in str(exc):
            reason = "nothing listens there (is dockerd running?)"
        else:
            reason = str(exc).splitlines()[0]
        raise ProvisioningError(f"Docker daemon not reachable at {where}: {reason}") from None
    return client


@dataclass
class DockerLauncher:
    spec: LaunchSpec
    plan: ContainerPlan
    no_pull: bool
    preflight: Callable[[], list[str]]
    echo: Echo | None = None
    notes: list[str] = field(default_factory=list)
    container: Any = field(default=None, init=False)
    _client: docker.DockerClient | None = field(default=None, init=False)
    _log_thread: threading.Thread | None = field(default=None, init=False)
    _launching: bool = field(default=False, init=False)

    def start(self) -> Server:
        client = self._client = connect_docker()
        self._remove_leftovers(client)
        problems = self.preflight()
        if problems:
            raise ProvisioningError("pre-flight failed: " + "; ".join(problems))
        self._ensure_image(client)
        self._launching = True
        atexit.register(self.stop)
        try:
            self.container = client.containers.run(**self.plan.run_kwargs())
        except BaseException as exc:
            self.stop()
            if isinstance(exc, DockerException):
                raise ProvisioningError(f"docker could not start {self.plan.image}: {_explain(exc)}") from None
            raise
        self._follow_logs()
        try:
            startup_s = wait_until_ready(
                LogFollower(self.spec.log_path), lambda: probe_health(self.spec.base_url), self._exit_code,
                self.spec.startup_timeout_s, what=f"container {self.plan.name} ({self.plan.image})",
                on_line=self.echo)
        except BaseException:
            self.stop()
            raise
        return Server(self.spec.base_url, self.spec.served_model_name, "docker", self.spec.log_path, None,
                      round(startup_s, 3), container_name=self.plan.name)

    def image_digest(self) -> str:
        """The image the container runs, by content: its registry digest when it came from one, else its id."""
        try:
            image = (self._client or connect_docker()).images.get(self.plan.image)
        except (DockerException, ProvisioningError) as exc:
            return f"unknown: {_explain(exc) if isinstance(exc, DockerException) else exc}"
        digests = image.attrs.get("RepoDigests") or []
        return digests[0] if digests else f"{image.id} (built here: no registry digest)"

    def exec_in(self, command: list[str]) -> tuple[int, str]:
        """A command run inside the serving container: its exit code and output."""
        try:
            result = self.container.exec_run(command)
        except DockerException as exc:
            return 1, _explain(exc)
        return result.exit_code, result.output.decode(errors="replace")

    def _remove_leftovers(self, client: docker.DockerClient) -> None:
        filters = {"label": [SUITE_LABEL, f"{SUITE_LABEL}.port={self.spec.port}"]}
        for old in client.containers.list(all=True, filters=filters):
            self.notes.append(f"removed leftover container {old.name} of an earlier run "
                              f"({old.labels.get(f'{SUITE_LABEL}.run', '?')}, status {old.status})")
            old.remove(force=True)

    def _ensure_image(self, client: docker.DockerClient) -> None:
        try:
            client.images.get(self.plan.image)
            return
        except ImageNotFound:
            if self.no_pull:
                raise ProvisioningError(f"image {self.plan.image} is not on this host and --no-pull forbids "
                                        "pulling it") from None
        self._say(f"pulling {self.plan.image} (not on this host yet)")
        repository, tag = parse_repository_tag(self.plan.image)
        try:
            for event in client.api.pull(repository, tag=tag or "latest", stream=True, decode=True):
                if "error" in event:
                    raise ProvisioningError(f"pulling {self.plan.image} failed: {event['error']}")
                if event.get("status") and not event.get("progressDetail"):
                    self._say(f"pull: {event.get('id', '')} {event['status']}".replace("  ", " "))
        except (APIError, DockerException) as exc:
            raise ProvisioningError(f"pulling {self.plan.image} failed: {_explain(exc)}") from None

    def _say(self, line: str) -> None:
        if self.echo:
            self.echo(line)

    def _follow_logs(self) -> None:
        """Copy the container's output into the log file until the container ends."""
        container, log_path = self.container, self.spec.log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_bytes(b"")

        def pump() -> None:
            with log_path.open("ab") as out:
                try:
                    for chunk in container.logs(stream=True, follow=True):
                        out.write(chunk)
                        out.flush()
                except (APIError, DockerException, OSError):
                    return

        self._log_thread = threading.Thread(target=pump, name="container-log", daemon=True)
        self._log_thread.start()

    def _exit_code(self) -> int | None:
        try:
            self.container.reload()
        except NotFound:
            return -1
        if self.container.status in ("exited", "dead"):
            return int(self.container.attrs["State"].get("ExitCode", -1))
        return None

    def stop(self) -> None:
        """Also removes a container whose start was cut short (Ctrl-C, an abort, a docker error while
        `containers.run` waited): the engine may have created it before the answer came back."""
        container, self.container = self.container, None
        launching, self._launching = self._launching, False
        if container is None and launching and self._client is not None:
            container = self._named_container(self._client)
        atexit.unregister(self.stop)
        if container is None:
            return
        try:
            container.stop(timeout=int(self.spec.stop_timeout_s))
        except (APIError, DockerException):
            pass
        if self._log_thread is not None:
            self._log_thread.join(timeout=10)
        try:
            container.remove(force=True)
        except NotFound:
            pass
        except (APIError, DockerException) as exc:
            self.notes.append(f"could not remove container {container.name}: {_explain(exc)}")

    def _named_container(self, client: docker.DockerClient) -> Any:
        try:
            return client.containers.get(self.plan.name)
        except NotFound:
            return None
        except (APIError, DockerException) as exc:
            self.notes.append(f"could not look for container {self.plan.name}: {_explain(exc)}")
            return None


def _explain(exc: Exception) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc).splitlines()[0]
