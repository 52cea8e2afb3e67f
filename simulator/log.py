"""The simulator's log: vLLM's and uvicorn's lines on stdout, one whole line at a time across threads."""
from __future__ import annotations

import sys
import threading
import time

_print_lock = threading.Lock()


def log(line: str) -> None:
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def vllm_log(level: str, where: str, message: str) -> None:
    log(f"{level} {time.strftime('%m-%d %H:%M:%S')} [{where}] {message}")
