"""Progress of a long step (a load of 200 requests at 1 req/s, the memory soak's 2,000 pictures, an AISBench
dataset for hours): what runs, how far, how long left. As lines, at most one every `every_s` seconds and one
at the end, never a redrawn bar: a terminal and a Jenkins console read them alike.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

Say = Callable[[str], None]


def duration(seconds: float) -> str:
    """12 s, 3 min 05 s, 2 h 04 min."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


@dataclass
class Progress:
    """`update(done)` as the step advances; `total` None for a step whose size is unknown (then elapsed only)."""

    label: str
    total: int | None
    unit: str
    say: Say
    every_s: float = 10.0
    clock: Callable[[], float] = time.monotonic
    _started: float = field(init=False)
    _last: float = field(init=False)

    def __post_init__(self) -> None:
        self._started = self._last = self.clock()

    def update(self, done: int, note: str = "") -> None:
        now = self.clock()
        finished = self.total is not None and done >= self.total
        if finished or now - self._last >= self.every_s:
            self._last = now
            self.say(self.line(done, now - self._started, note))

    def line(self, done: int, elapsed: float, note: str = "") -> str:
        extra = f"; {note}" if note else ""
        if not self.total:
            return f"{self.label}: {done} {self.unit}, {duration(elapsed)}{extra}"
        left = f", ~{duration(elapsed / done * (self.total - done))} left" if 0 < done < self.total else ""
        return (f"{self.label}: {done}/{self.total} {self.unit} ({done / self.total:.0%}), {duration(elapsed)}"
                f"{left}{extra}")


def heartbeat(label: str, limit_s: float, say: Say) -> Callable[[float], None]:
    """For a step that tells nothing until it ends (an external tool): how long it has run, against its limit."""
    return lambda elapsed: say(f"{label}: running for {duration(elapsed)} (limit {duration(limit_s)})")
