"""Starting `vllm serve` (real or the simulator's shim) as a local process in its own process group.

Output goes to a log file that the readiness check follows; stopping sends SIGTERM to the whole group,
waits, then SIGKILLs it, so no worker process outlives the run.
"""
from __future__ import annotations

import atexit
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from phi4mm_acceptance.deployment.launch.base import LaunchSpec, ProvisioningError, Server
from phi4mm_acceptance.deployment.launch.ports import port_in_use
from phi4mm_acceptance.deployment.logwatch import LogFollower
from phi4mm_acceptance.deployment.readiness import wait_until_ready
from phi4mm_acceptance.protocol.client import probe_health


@dataclass
class ProcessLauncher:
    spec: LaunchSpec
    command: list[str]
    env: dict[str, str]
    target: str
    path_prepend: list[Path] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> Server:
        spec = self.spec
        if port_in_use(spec.host, spec.port):
            raise ProvisioningError(f"port {spec.port} on {spec.host} is already in use; stop what listens there "
                                    "or choose another with --port")
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env}
        if self.path_prepend:
            env["PATH"] = os.pathsep.join([*map(str, self.path_prepend), env.get("PATH", "")])
        with spec.log_path.open("wb") as log:
            try:
                self.process = subprocess.Popen(  # noqa: S603 - the profile's own command
                    self.command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    env=env, start_new_session=True)
            except OSError as exc:
                raise ProvisioningError(f"cannot start {self.command[0]!r}: {exc.strerror or exc}") from None
        atexit.register(self.stop)
        try:
            startup_s = wait_until_ready(
                LogFollower(spec.log_path), lambda: probe_health(spec.base_url), self.process.poll,
                spec.startup_timeout_s, what=f"server process {self.process.pid} ({self.command[0]})")
        except BaseException:
            self.stop()
            raise
        return Server(spec.base_url, spec.served_model_name, self.target, spec.log_path, self.process.pid,
                      round(startup_s, 3))

    def detach(self) -> None:
        """Leave the server running after this run (--keep-server)."""
        atexit.unregister(self.stop)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        stop_process_group(self.process.pid, self.spec.stop_timeout_s, self.process)
        self.process = None


def stop_process_group(pid: int, timeout_s: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM the group led by pid, wait up to timeout_s, then SIGKILL it."""
    for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if process is not None:
                process.poll()  # reap the leader so it does not linger as a zombie
            if not pid_alive(pid, group=True):
                return
            time.sleep(0.05)


def pid_alive(pid: int, group: bool = False) -> bool:
    """Whether the process (or the process group it leads) still exists; signal 0 only asks."""
    try:
        (os.killpg if group else os.kill)(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
