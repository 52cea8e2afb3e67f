"""Each target's way to a ready server, given the launch settings only: the table a Deployment picks from.

A target prepares what its launcher needs (the weights, the container plan, the accelerators' memory before the
server starts, a kept server to reuse) and hands the starting and stopping to the launcher of launch/.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from phi4mm_acceptance import PROJECT_ROOT
from phi4mm_acceptance.deployment.launch import kept
from phi4mm_acceptance.deployment.launch.base import LaunchSpec, ProvisioningError, Server
from phi4mm_acceptance.deployment.launch.command import serve_command, server_env
from phi4mm_acceptance.deployment.launch.container import (
    CONTAINER_HUB_CACHE,
    CONTAINER_MODEL_DIR,
    host_hub_cache,
    on_host,
    plan_container,
)
from phi4mm_acceptance.deployment.launch.docker import DockerLauncher, Echo
from phi4mm_acceptance.deployment.launch.external import ExternalLauncher
from phi4mm_acceptance.deployment.launch.ports import free_port
from phi4mm_acceptance.deployment.launch.process import ProcessLauncher
from phi4mm_acceptance.deployment.memory_held import MemoryWatch, memory_watch
from phi4mm_acceptance.deployment.preflight import preflight_problems, read_npu_smi
from phi4mm_acceptance.deployment.settings import SIMULATOR_MODEL_DIR, LaunchSettings
from phi4mm_acceptance.deployment.weights import WeightsError, check_weights, hub_offline

SIMULATOR_BIN = PROJECT_ROOT / "simulator" / "bin"


@dataclass
class Target:
    """What every target shares: its slice of the settings, where the server's log goes, the notes it leaves for
    the run's summary, and what it found out while starting (the weights as the server sees them, the memory
    watch of the accelerators it certifies)."""

    launch: LaunchSettings
    log_path: Path
    notes: list[str] = field(default_factory=list)
    echo: Echo | None = None
    model_dir: str | None = None
    memory: MemoryWatch | None = None

    def launch_spec(self, port: int, log_path: Path) -> LaunchSpec:
        launch = self.launch
        return LaunchSpec(launch.host, port, log_path, launch.startup_timeout_s, launch.profile.serve.stop_timeout_s,
                          launch.served_model_name)

    def start(self) -> Server:
        raise NotImplementedError

    def stop(self) -> None:
        """Stop what this target started; safe after a failed start and a second time."""


@dataclass
class ExternalTarget(Target):
    """A server that is already running: found and waited for, never started or stopped."""

    def start(self) -> Server:
        launch = self.launch
        return ExternalLauncher(launch.base_url or "", launch.served_model_name, launch.startup_timeout_s,
                                launch.server_log).start()


@dataclass
class ContainerTarget(Target):
    """The seed's `docker run`: the weights checked in the shared cache, the pre-flight of the devices and the
    driver, the NPUs' memory read before the container starts (the pre-flight's own reading)."""

    docker: DockerLauncher | None = None

    def start(self) -> Server:
        launch = self.launch
        spec = launch.profile.container
        assert spec is not None  # settings refuse --target docker without a [container] table
        port = launch.port or free_port(launch.host)
        weights_problems, self.model_dir = self._weights()
        plan = plan_container(launch, port, time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}", self.model_dir)
        npu_smi = read_npu_smi(on_host(launch, "/usr/local/bin/npu-smi")) if spec.accelerator == "npu" else None
        self.memory = watch = memory_watch(launch, npu_smi)
        if watch is not None and npu_smi is not None:
            npu_smi = watch.read_before_start  # the pre-flight's own reading is the one compared with
        elif watch is not None:
            watch.read_before_start()
        self.docker = DockerLauncher(
            self.launch_spec(port, self.log_path), plan=plan, no_pull=launch.no_pull, echo=self.echo,
            preflight=lambda: weights_problems + preflight_problems(
                plan.host_paths, launch.devices if npu_smi else (), spec.min_free_hbm_mb, npu_smi, launch.host, port),
            notes=self.notes)
        return self.docker.start()

    def _weights(self) -> tuple[list[str], str]:
        """Problems with the weights, and the snapshot folder as the container will see it."""
        launch = self.launch
        cache = host_hub_cache(launch)
        try:
            snapshot = check_weights(launch.model, launch.model_path, cache, hub_offline(),
                                     launch.profile.snapshot_adapters, launch.profile.loads_checkpoint)
        except WeightsError as exc:
            return [str(exc)], "<weights not found>"  # pre-flight fails on the problem before this is used
        if launch.model_path:
            return [], f"{CONTAINER_MODEL_DIR}/{launch.model_path.name}"
        return [], f"{CONTAINER_HUB_CACHE}/{snapshot.relative_to(cache)}"

    def stop(self) -> None:
        if self.docker is not None:
            self.docker.stop()


@dataclass
class LocalTarget(Target):
    """`vllm serve` (or the simulator, for the sim target) as a process group on this host; --keep-server leaves
    it running and the next run started the same way reuses it."""

    _process: ProcessLauncher | None = None
    _reused: kept.KeptServer | None = None
    _server: Server | None = None

    def start(self) -> Server:
        launch = self.launch
        self.model_dir = self._weights()
        env = server_env(launch)
        identity = kept.fingerprint(serve_command(launch, launch.port, model_dir=self.model_dir), env, launch.target)
        reused = self._reuse(identity)
        if reused is not None:
            return reused
        port = launch.port or free_port(launch.host)
        command = serve_command(launch, port, str(launch.model_path) if launch.model_path else None, self.model_dir)
        log_path = kept.STATE_FILE.with_suffix(".log") if launch.keep_server else self.log_path
        if launch.target == "process":  # vLLM on this host's accelerators: their memory read before it starts
            self.memory = memory_watch(launch, read_npu_smi(on_host(launch, "/usr/local/bin/npu-smi")))
            if self.memory is not None:
                self.memory.read_before_start()
        self._process = ProcessLauncher(self.launch_spec(port, log_path), command=command, env=env,
                                        target=launch.target,
                                        path_prepend=[SIMULATOR_BIN] if launch.target == "sim" else [])
        self._server = self._process.start()
        if launch.keep_server:
            kept.KeptServer(self._server, identity).save()
        return self._server

    def _weights(self) -> str | None:
        """The snapshot folder vLLM loads (checked), the simulator's stand-in model for the sim profile."""
        launch = self.launch
        if launch.profile.is_simulator:
            return str(SIMULATOR_MODEL_DIR)
        try:
            return str(check_weights(launch.model, launch.model_path, launch.hf_cache, hub_offline(),
                                     launch.profile.snapshot_adapters, launch.profile.loads_checkpoint))
        except WeightsError as exc:
            raise ProvisioningError(str(exc)) from None

    def _reuse(self, identity: str) -> Server | None:
        """The server an earlier --keep-server run left, when it was started the same way and still answers; one
        that does not match is stopped."""
        previous = kept.KeptServer.load()
        if previous is None:
            return None
        if previous.fingerprint == identity and previous.alive():
            self._reused = previous
            self.notes.append(f"reusing the server kept by an earlier run (pid {previous.server.pid})")
            self._server = replace(previous.server, reused=True)
            return self._server
        self.notes.append(f"stopped a server kept by an earlier run (pid {previous.server.pid}) "
                          "that does not match this run")
        previous.stop(self.launch.profile.serve.stop_timeout_s)
        kept.forget()
        return None

    def stop(self) -> None:
        process, reused, server = self._process, self._reused, self._server
        self._process = self._reused = self._server = None
        if self.launch.keep_server and server is not None:
            if process is not None:
                process.detach()
            self.notes.append(f"left the server running for the next run (pid {server.pid}, {server.base_url})")
            return
        if reused is not None:
            reused.stop(self.launch.profile.serve.stop_timeout_s)
            kept.forget()
        if process is not None:
            process.stop()


TARGETS: dict[str, type[Target]] = {
    "external": ExternalTarget,
    "docker": ContainerTarget,
    "process": LocalTarget,
    "sim": LocalTarget,
}
