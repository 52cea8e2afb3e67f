"""Running an external benchmark tool (vllm bench, AISBench) safely: own process group, a timeout, output
to a log file, and nothing left behind whatever happens (timeout, Ctrl-C, SIGTERM)."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from phi4mm_acceptance.deployment.logwatch import last_lines
from phi4mm_acceptance.deployment.secrets import redact


@dataclass(frozen=True)
class InContainer:
    """A tool started by `docker exec`: killing that client does not end the tool, so it is killed inside."""

    container: str
    pattern: str  # matched against the tool's command line there (pkill -f)

    def kill(self) -> None:
        try:
            subprocess.run(["docker", "exec", self.container, "pkill", "-KILL", "-f", self.pattern],
                           capture_output=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            pass  # no docker client or no answer: the container's removal ends the tool


def run_in_group(command: list[str], log_path: Path, timeout_s: float, env: dict[str, str] | None = None,
                 cwd: Path | None = None, inside: InContainer | None = None,
                 heartbeat: Callable[[float], None] | None = None, every_s: float = 30.0) -> int | None:
    """The tool's exit code, or None when it did not finish in time; its whole process group is killed, and
    the tool itself inside its container if it runs there (`inside`). `heartbeat(elapsed)` every `every_s`
    seconds while it runs: a tool that prints nothing until it ends still shows it is alive."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    finished = False
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, env=env, cwd=cwd)
        started = time.monotonic()
        try:
            while True:
                left = timeout_s - (time.monotonic() - started)
                if left <= 0:
                    return None
                try:
                    code = process.wait(min(left, every_s) if heartbeat else left)
                except subprocess.TimeoutExpired:
                    if heartbeat and time.monotonic() - started < timeout_s:
                        heartbeat(time.monotonic() - started)
                    continue
                finished = True
                return code
        finally:  # also on Ctrl-C: the whole group goes (tools fork workers)
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
            if inside is not None and not finished:
                inside.kill()


def output_tail(log_path: Path, lines: int = 8) -> str:
    """The last non-empty lines of a tool's output, on one line, secrets removed."""
    return redact("; output ends: " + " | ".join(last_lines(log_path, lines)))
