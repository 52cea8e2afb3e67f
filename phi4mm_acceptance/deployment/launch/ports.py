"""Port checks before a server is started: a busy port is a clear error, not a confusing crash later."""
from __future__ import annotations

import socket


def port_in_use(host: str, port: int) -> bool:
    """True when something accepts connections there (a TIME_WAIT leftover does not count)."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
