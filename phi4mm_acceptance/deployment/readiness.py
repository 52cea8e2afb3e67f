"""Deciding that a server is ready: uvicorn's three start-up lines in order, then GET /health == 200.

Fails fast when the process exits or a start-up line is skipped, and otherwise at the timeout; each
failure says what was awaited, what was seen last, and the log tail.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from phi4mm_acceptance.deployment.launch.base import ProvisioningError
from phi4mm_acceptance.deployment.logwatch import LogFollower
from phi4mm_acceptance.verdicts import SERVING_BROKEN

STARTUP_LINES = (
    ("Started server process [<pid>]", re.compile(r"Started server process \[\d+\]")),
    ("Waiting for application startup.", re.compile(r"Waiting for application startup\.")),
    ("Application startup complete.", re.compile(r"Application startup complete\.")),
)
ERROR_LINE = re.compile(r"^(?:\([^)]*\)\s+)?(?:ERROR|CRITICAL)\b|Traceback \(most recent call last\)")


class StartupError(ProvisioningError):
    """The server did not become ready (it exited, hung or skipped a start-up line): the serving is broken, not
    the machine; the message carries the log tail."""

    kind = SERVING_BROKEN


@dataclass
class StartupLineTracker:
    """Where each expected start-up line was first seen (line number in the log), in arrival order."""

    seen_at: dict[int, int] = field(default_factory=dict)
    lines_read: int = 0

    def feed(self, lines: list[str]) -> None:
        for line in lines:
            self.lines_read += 1
            for index, (_, pattern) in enumerate(STARTUP_LINES):
                if index not in self.seen_at and pattern.search(line):
                    self.seen_at[index] = self.lines_read

    @property
    def complete(self) -> bool:
        return len(self.seen_at) == len(STARTUP_LINES)

    def skipped(self) -> str | None:
        """A line that is missing although a later one has already appeared."""
        for index, (text, _) in enumerate(STARTUP_LINES):
            if index not in self.seen_at and any(later > index for later in self.seen_at):
                following = STARTUP_LINES[min(i for i in self.seen_at if i > index)][0]
                return f"start-up line {text!r} is missing: {following!r} appeared without it"
        return None

    def problems(self) -> list[str]:
        problems = [f"start-up line {text!r} not found" for i, (text, _) in enumerate(STARTUP_LINES)
                    if i not in self.seen_at]
        order = [self.seen_at[i] for i in sorted(self.seen_at)]
        if order != sorted(order):
            problems.append("start-up lines appeared out of order: "
                            + ", then ".join(STARTUP_LINES[i][0] for i in sorted(self.seen_at, key=self.seen_at.get)))
        return problems


def startup_problems(lines: list[str]) -> list[str]:
    tracker = StartupLineTracker()
    tracker.feed(lines)
    return tracker.problems()


def error_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if ERROR_LINE.search(line)]


def wait_until_ready(
    log: LogFollower,
    health_status: Callable[[], int | None],
    exit_code: Callable[[], int | None],
    timeout_s: float,
    what: str,
    poll_s: float = 0.2,
    on_line: Callable[[str], None] | None = None,
) -> float:
    """Block until ready; return the seconds it took. `health_status` gives None while unreachable.

    `on_line` sees every new log line as it arrives (live progress while a model loads for minutes).
    """
    started = time.monotonic()
    tracker = StartupLineTracker()
    last_health: int | None = None
    while True:
        lines = log.poll()
        for line in lines if on_line else ():
            on_line(line)
        tracker.feed(lines)
        code = exit_code()
        if code is not None:
            tracker.feed(log.poll())
            raise StartupError(f"{what} exited with code {code} during start-up\n"
                               f"  last lines of {log.path}:\n{log.tail_text()}")
        skipped = tracker.skipped()
        if skipped:
            raise StartupError(f"{what}: {skipped}\n  last lines of {log.path}:\n{log.tail_text()}")
        if tracker.complete:
            last_health = health_status()
            if last_health == 200:
                return time.monotonic() - started
        elapsed = time.monotonic() - started
        if elapsed > timeout_s:
            awaited = ([text for i, (text, _) in enumerate(STARTUP_LINES) if i not in tracker.seen_at]
                       or ["GET /health == 200"])
            last_health = health_status()
            health = "not reachable" if last_health is None else str(last_health)
            raise StartupError(
                f"{what} not ready after {timeout_s:.0f} s: still waiting for {awaited[0]!r} "
                f"(/health: {health}); raise --startup-timeout if the model is still loading\n"
                f"  last lines of {log.path}:\n{log.tail_text()}")
        time.sleep(poll_s)
