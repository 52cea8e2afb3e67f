"""What every launcher returns and raises: a Server handle, or a ProvisioningError saying why not."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from phi4mm_acceptance.verdicts import SETUP_PROBLEM


class ProvisioningError(RuntimeError):
    """The server could not be made ready: reported once, as the run's deployment failure, and every test that
    needs the server is not run. Its `kind`: a setup problem of this machine (a port, an address, Docker, the
    weights, a pre-flight check) unless a subclass says the server itself failed."""

    kind = SETUP_PROBLEM


@dataclass(frozen=True)
class Server:
    """A ready server. Plain data so the xdist controller can hand it to its workers."""

    base_url: str
    served_model_name: str
    target: str
    log_path: Path | None
    pid: int | None
    startup_s: float | None
    reused: bool = False
    container_name: str | None = None  # the docker target's container, for tools run inside it

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["log_path"] = str(self.log_path) if self.log_path else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Server:
        return cls(**{**data, "log_path": Path(data["log_path"]) if data.get("log_path") else None})


@dataclass(frozen=True)
class LaunchSpec:
    """Where a server the suite starts will listen and how long to wait for it, whatever starts it."""

    host: str
    port: int
    log_path: Path
    startup_timeout_s: float
    stop_timeout_s: float
    served_model_name: str

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


class Launcher(Protocol):
    """Starts (or finds) a server; `stop` is safe to call more than once and after a failed start."""

    def start(self) -> Server: ...

    def stop(self) -> None: ...
