"""One run's server: the target's way to start it (targets.TARGETS), the hardware it ran on, and the clean-up.

The pytest side calls start() once per run (on the xdist controller when there are workers) and stop()
once at the end; everything about *how* lives in the targets and their launchers.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from phi4mm_acceptance.deployment.device import DeviceSeen, device_in_log, hardware_mismatch
from phi4mm_acceptance.deployment.launch.base import ProvisioningError, Server
from phi4mm_acceptance.deployment.launch.container import on_host
from phi4mm_acceptance.deployment.launch.docker import Echo
from phi4mm_acceptance.deployment.logwatch import strip_ansi
from phi4mm_acceptance.deployment.secrets import scrub_file
from phi4mm_acceptance.deployment.settings import LaunchSettings
from phi4mm_acceptance.deployment.targets import TARGETS, ContainerTarget, Target
from phi4mm_acceptance.deployment.versions import container_versions, npu_host_versions, snapshot_revision


@dataclass
class Deployment:
    """`log_path`: where the run's copy of the server's log goes (reports/server.log)."""

    launch: LaunchSettings
    log_path: Path
    echo: Echo | None = None
    notes: list[str] = field(default_factory=list)
    device_seen: DeviceSeen = DeviceSeen(None, "no server started")
    _target: Target | None = None
    _server: Server | None = None

    def start(self) -> Server:
        """The ready server, on the hardware its profile names as far as its own log tells (a mismatch stops it
        and is a setup problem: the deployment is not the one the profile certifies)."""
        self._target = TARGETS[self.launch.target](self.launch, self.log_path, self.notes, self.echo)
        server = self._server = self._target.start()
        self.device_seen = (device_in_log(strip_ansi(server.log_path.read_text(errors="replace")).splitlines())
                            if server.log_path and server.log_path.is_file() else
                            DeviceSeen(None, "no server log: pass --server-log FILE with the external target"))
        profile = self.launch.profile
        problem = hardware_mismatch(profile.hardware, profile.name, self.device_seen)
        if not problem and self._target.memory is not None:
            problem = self._target.memory.problem_once_ready()
        if problem:
            self.stop()
            raise ProvisioningError(problem)
        return server

    def versions(self) -> dict[str, str]:
        """What this deployment runs on, each read, or unknown (or n/a) with why: the device its log names, the
        image by digest, the weights' revision, vllm-ascend, CANN, the NPU driver and firmware."""
        launch, target = self.launch, self._target
        docker = target.docker if isinstance(target, ContainerTarget) else None
        hardware = launch.profile.hardware
        return {"device": self.device_seen.describe(),
                "image_digest": docker.image_digest() if docker else "n/a: no container image",
                "snapshot": snapshot_revision(target.model_dir if target else None, launch.model_path, launch.target,
                                              launch.profile.is_simulator),
                **container_versions(hardware, docker.exec_in if docker else None),
                **npu_host_versions(hardware, launch.target, lambda path: on_host(launch, path))}

    def stop(self) -> None:
        """Stop what this run started, unless asked to keep it; copy a kept server's log into reports/.
        Safe to call again: the second call finds nothing left to do."""
        server, target = self._server, self._target
        self._server = self._target = None
        if server is not None and server.log_path and server.log_path != self.log_path and server.log_path.is_file():
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(server.log_path, self.log_path)
        if target is not None:
            target.stop()
        scrub_file(self.log_path)
