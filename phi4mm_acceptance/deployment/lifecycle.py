"""One run's server: which launcher, reuse of a kept server, and the matching clean-up.

The pytest side calls start() once per run (on the xdist controller when there are workers) and stop()
once at the end; everything about *how* lives here.
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from phi4mm_acceptance import PROJECT_ROOT
from phi4mm_acceptance.deployment.device import DeviceSeen, device_in_log, hardware_mismatch
from phi4mm_acceptance.deployment.launch import kept
from phi4mm_acceptance.deployment.launch.base import Launcher, LaunchSpec, ProvisioningError, Server
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
from phi4mm_acceptance.deployment.logwatch import strip_ansi
from phi4mm_acceptance.deployment.memory_held import MemoryWatch, memory_watch
from phi4mm_acceptance.deployment.preflight import preflight_problems, read_npu_smi
from phi4mm_acceptance.deployment.secrets import scrub_file
from phi4mm_acceptance.deployment.settings import SIMULATOR_MODEL_DIR, RunSettings
from phi4mm_acceptance.deployment.versions import container_versions, npu_host_versions, snapshot_revision
from phi4mm_acceptance.deployment.weights import WeightsError, check_weights, hub_offline

SIMULATOR_BIN = PROJECT_ROOT / "simulator" / "bin"


@dataclass
class Deployment:
    settings: RunSettings
    echo: Echo | None = None
    notes: list[str] = field(default_factory=list)
    server: Server | None = None
    device_seen: DeviceSeen = DeviceSeen(None, "no server started")
    model_dir: str | None = None  # the weights the server loads, as it sees them
    _launcher: Launcher | None = None
    _reused: kept.KeptServer | None = None
    _memory: MemoryWatch | None = None  # a profile certifying accelerators, served on this host

    def _launch_spec(self, port: int, log_path: Path) -> LaunchSpec:
        settings = self.settings
        return LaunchSpec(settings.host, port, log_path, settings.startup_timeout_s,
                          settings.profile.serve.stop_timeout_s, settings.served_model_name)

    @property
    def needs_weights(self) -> bool:
        """A real server loads weights; the simulator profile's server does not."""
        return self.settings.target in ("process", "docker") and not self.settings.profile.is_simulator

    def _container_weights(self) -> tuple[list[str], str]:
        """Problems with the weights, and the snapshot folder as the container will see it."""
        settings = self.settings
        cache = host_hub_cache(settings)
        try:
            snapshot = check_weights(settings.model, settings.model_path, cache, hub_offline(),
                                     settings.profile.snapshot_adapters, settings.profile.loads_checkpoint)
        except WeightsError as exc:
            return [str(exc)], "<weights not found>"  # pre-flight fails on the problem before this is used
        if settings.model_path:
            return [], f"{CONTAINER_MODEL_DIR}/{settings.model_path.name}"
        return [], f"{CONTAINER_HUB_CACHE}/{snapshot.relative_to(cache)}"

    @property
    def log_path(self) -> Path:
        return self.settings.reports_dir / "server.log"

    def start(self) -> Server:
        """The ready server, on the hardware its profile names as far as its own log tells (a mismatch stops it
        and is a setup problem: the deployment is not the one the profile certifies)."""
        server = self._start()
        self.device_seen = (device_in_log(strip_ansi(server.log_path.read_text(errors="replace")).splitlines())
                            if server.log_path and server.log_path.is_file() else
                            DeviceSeen(None, "no server log: pass --server-log FILE with the external target"))
        problem = hardware_mismatch(self.settings.profile.hardware, self.settings.profile.name, self.device_seen)
        if not problem and self._memory is not None:
            problem = self._memory.problem_once_ready()
        if problem:
            self.stop()
            raise ProvisioningError(problem)
        return server

    def versions(self) -> dict[str, str]:
        """What this deployment runs on, each read, or unknown (or n/a) with why: the device its log names, the
        image by digest, the weights' revision, vllm-ascend, CANN, the NPU driver and firmware."""
        settings, launcher = self.settings, self._launcher
        hardware, container = settings.profile.hardware, isinstance(launcher, DockerLauncher)
        return {"device": self.device_seen.describe(),
                "image_digest": launcher.image_digest() if container else "n/a: no container image",
                "snapshot": snapshot_revision(self.model_dir, settings.model_path, settings.target,
                                              settings.profile.is_simulator),
                **container_versions(hardware, launcher.exec_in if container else None),
                **npu_host_versions(hardware, settings.target, lambda path: on_host(settings, path))}

    def _start(self) -> Server:
        settings = self.settings
        if settings.target == "external":
            self._launcher = ExternalLauncher(settings.base_url or "", settings.served_model_name,
                                              settings.startup_timeout_s, settings.server_log)
            self.server = self._launcher.start()
            return self.server
        if settings.target == "docker":
            return self._start_container()
        model_dir = str(SIMULATOR_MODEL_DIR) if settings.profile.is_simulator else None
        if self.needs_weights:
            try:
                model_dir = str(check_weights(settings.model, settings.model_path, settings.hf_cache, hub_offline(),
                                              settings.profile.snapshot_adapters,
                                              settings.profile.loads_checkpoint))
            except WeightsError as exc:
                raise ProvisioningError(str(exc)) from None
        self.model_dir = model_dir
        env = server_env(settings)
        identity = kept.fingerprint(serve_command(settings, settings.port, model_dir=model_dir), env, settings.target)
        previous = kept.KeptServer.load()
        if previous is not None:
            if previous.fingerprint == identity and previous.alive():
                self._reused = previous
                self.notes.append(f"reusing the server kept by an earlier run (pid {previous.server.pid})")
                self.server = replace(previous.server, reused=True)
                return self.server
            self.notes.append(f"stopped a server kept by an earlier run (pid {previous.server.pid}) "
                              "that does not match this run")
            previous.stop(settings.profile.serve.stop_timeout_s)
            kept.forget()
        port = settings.port or free_port(settings.host)
        command = serve_command(settings, port, str(settings.model_path) if settings.model_path else None, model_dir)
        log_path = kept.STATE_FILE.with_suffix(".log") if settings.keep_server else self.log_path
        if settings.target == "process":  # vLLM on this host's accelerators: their memory read before it starts
            self._memory = memory_watch(settings, read_npu_smi(on_host(settings, "/usr/local/bin/npu-smi")))
            if self._memory is not None:
                self._memory.read_before_start()
        launcher = ProcessLauncher(self._launch_spec(port, log_path), command=command, env=env,
                                   target=settings.target,
                                   path_prepend=[SIMULATOR_BIN] if settings.target == "sim" else [])
        self._launcher = launcher
        self.server = launcher.start()
        if settings.keep_server:
            kept.KeptServer(self.server, identity).save()
        return self.server

    def _start_container(self) -> Server:
        settings = self.settings
        spec = settings.profile.container
        assert spec is not None  # settings refuse --target docker without a [container] table
        port = settings.port or free_port(settings.host)
        weights_problems, model_dir = self._container_weights()
        self.model_dir = model_dir
        plan = plan_container(settings, port, time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}", model_dir)
        npu_smi = read_npu_smi(on_host(settings, "/usr/local/bin/npu-smi")) if spec.accelerator == "npu" else None
        self._memory = watch = memory_watch(settings, npu_smi)
        if watch is not None and npu_smi is not None:
            npu_smi = watch.read_before_start  # the pre-flight's own reading is the one compared with
        elif watch is not None:
            watch.read_before_start()
        launcher = DockerLauncher(
            self._launch_spec(port, self.log_path), plan=plan, no_pull=settings.no_pull, echo=self.echo,
            preflight=lambda: weights_problems + preflight_problems(
                plan.host_paths, settings.devices if npu_smi else (), spec.min_free_hbm_mb, npu_smi, settings.host,
                port),
            notes=self.notes)
        self._launcher = launcher
        self.server = launcher.start()
        return self.server

    def stop(self) -> None:
        """Stop what this run started, unless asked to keep it; copy a kept server's log into reports/.
        Safe to call again: the second call finds nothing left to do."""
        server, settings = self.server, self.settings
        launcher, reused = self._launcher, self._reused
        self.server = self._launcher = self._reused = None
        if server is not None and server.log_path and server.log_path != self.log_path and server.log_path.is_file():
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(server.log_path, self.log_path)
        if settings.keep_server and server is not None and settings.target != "external":
            if isinstance(launcher, ProcessLauncher):
                launcher.detach()
            self.notes.append(f"left the server running for the next run (pid {server.pid}, {server.base_url})")
            return
        if reused is not None:
            reused.stop(settings.profile.serve.stop_timeout_s)
            kept.forget()
        if launcher is not None:
            launcher.stop()
        scrub_file(self.log_path)
