"""Following a server's log file as it grows, for readiness checks and failure messages."""
from __future__ import annotations

import re
from collections import deque
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(line: str) -> str:
    return ANSI.sub("", line)


def last_lines(path: Path, count: int) -> list[str]:
    """The last `count` non-empty lines of a log file, stripped of colour codes and spaces; [] if it is missing."""
    text = path.read_text(errors="replace").splitlines() if path.is_file() else []
    return [kept for line in text if (kept := strip_ansi(line).strip())][-count:]


class LogFollower:
    """Reads complete new lines from a file that another process appends to."""

    def __init__(self, path: Path, tail_lines: int = 40) -> None:
        self.path = path
        self._offset = 0
        self._partial = ""
        self._tail: deque[str] = deque(maxlen=tail_lines)
        self.lines_seen = 0

    def poll(self) -> list[str]:
        try:
            with self.path.open("r", encoding="utf-8", errors="replace") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
                self._offset = handle.tell()
        except FileNotFoundError:
            return []
        text = self._partial + chunk
        *complete, self._partial = text.split("\n")
        lines = [strip_ansi(line.rstrip("\r")) for line in complete]
        self._tail.extend(lines)
        self.lines_seen += len(lines)
        return lines

    def tail(self) -> list[str]:
        return list(self._tail) + ([strip_ansi(self._partial)] if self._partial else [])

    def tail_text(self, prefix: str = "    ") -> str:
        lines = self.tail()
        return "\n".join(prefix + line for line in lines) if lines else f"{prefix}(the log is empty)"
