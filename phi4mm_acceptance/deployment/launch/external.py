"""A server that is already running: the suite checks it is ready, and never starts or stops it."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from phi4mm_acceptance.deployment.launch.base import ProvisioningError, Server
from phi4mm_acceptance.deployment.readiness import StartupError
from phi4mm_acceptance.protocol.client import probe_health

UNREACHABLE_GRACE_S = 5.0


@dataclass
class ExternalLauncher:
    base_url: str
    served_model_name: str
    timeout_s: float
    log_path: Path | None

    def start(self) -> Server:
        """Wait while /health says "starting" (non-200); give up soon when nothing answers at all."""
        started = time.monotonic()
        status = None
        while True:
            status = probe_health(self.base_url)
            elapsed = time.monotonic() - started
            if status == 200:
                return Server(self.base_url, self.served_model_name, "external", self.log_path, None, None)
            if status is None and elapsed > UNREACHABLE_GRACE_S:
                raise ProvisioningError(f"no server answers at {self.base_url} (GET /health: connection failed "
                                        f"for {elapsed:.0f} s); is it running, and is --base-url right?")
            if elapsed > self.timeout_s:
                raise StartupError(f"server at {self.base_url} not ready after {self.timeout_s:.0f} s: "
                                   f"GET /health answers {status}")
            time.sleep(0.5)

    def stop(self) -> None:
        """Not ours to stop."""
