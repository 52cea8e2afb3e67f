"""A server left running by --keep-server, recorded so the next run can reuse it or clean it up."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from phi4mm_acceptance.deployment.launch.base import Server
from phi4mm_acceptance.deployment.launch.process import pid_alive, stop_process_group
from phi4mm_acceptance.protocol.client import probe_health

STATE_FILE = Path(".phi4mm") / "kept-server.json"


@dataclass(frozen=True)
class KeptServer:
    server: Server
    fingerprint: str

    def save(self, path: Path = STATE_FILE) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"server": self.server.to_dict(), "fingerprint": self.fingerprint}))

    @classmethod
    def load(cls, path: Path = STATE_FILE) -> KeptServer | None:
        try:
            data = json.loads(path.read_text())
            return cls(Server.from_dict(data["server"]), data["fingerprint"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def alive(self) -> bool:
        return (self.server.pid is not None and pid_alive(self.server.pid)
                and probe_health(self.server.base_url) == 200)

    def stop(self, timeout_s: float) -> None:
        if self.server.pid is not None:
            stop_process_group(self.server.pid, timeout_s)


def forget(path: Path = STATE_FILE) -> None:
    path.unlink(missing_ok=True)


def fingerprint(command: list[str], env: dict[str, str], target: str) -> str:
    """Equal only for servers started the same way, so a changed profile never reuses a stale server."""
    return hashlib.sha256(json.dumps([command, sorted(env.items()), target]).encode()).hexdigest()
