"""Faults of start-up: the log while the model loads, and what the server is set up to serve."""
from __future__ import annotations

import threading
from dataclasses import replace
from typing import TYPE_CHECKING

from simulator.errors import StartupCrash
from simulator.faults.base import Fault
from simulator.log import log, vllm_log

if TYPE_CHECKING:
    from simulator.chat import ServingLimits


class CrashOnStart(Fault):
    """prints a Python Traceback during model load and exits 1"""
    name, category = "crash_on_start", "startup"

    def loading(self, stop: threading.Event) -> None:
        log("Traceback (most recent call last):")
        log('  File "/vllm-workspace/vllm/vllm/v1/engine/core.py", line 512, in run_engine_core')
        log("    engine_core = EngineCoreProc(*args, **kwargs)")
        log("RuntimeError: NPU out of memory. Tried to allocate 2.00 GiB (simulated fault: crash_on_start)")
        raise StartupCrash(self.name)


class HangOnStart(Fault):
    """never finishes loading: no uvicorn lines, /health stays 503"""
    name, category = "hang_on_start", "startup"

    def loading(self, stop: threading.Event) -> None:
        stop.wait()


class DropStartupLine(Fault):
    """N=1..3: leaves out the N-th uvicorn start-up line (the server still comes up)"""
    name, category = "drop_startup_line", "startup"
    value_type = int

    def uvicorn_lines(self, lines: list[str]) -> list[str]:
        return [line for number, line in enumerate(lines, start=1) if number != self.value]


class ErrorInStartupLog(Fault):
    """prints an `ERROR` line during start-up (the server still comes up)"""
    name, category = "error_in_startup_log", "startup"

    def loading(self, stop: threading.Event) -> None:
        vllm_log("ERROR", "worker.py:88", "Failed to allocate the KV cache on device 0 (simulated fault).")


class NoMediaLimits(Fault):
    """enforces none of vLLM's media limits (audio size and length, download size), whatever the release it
    claims"""
    name, category = "no_media_limits", "robustness"

    def configure(self, limits: ServingLimits) -> ServingLimits:
        return replace(limits, enforce_media_caps=False)


class BehavesAsMinor(Fault):
    """N: answers as vLLM 0.N.0 does while GET /version still says the release SIM_VLLM_VERSION names (a server that
    is not the release it reports)"""
    name, category = "behaves_as_minor", "robustness"
    value_type = int

    def configure(self, limits: ServingLimits) -> ServingLimits:
        return replace(limits, claimed=limits.claimed.behaving_as_minor(self.value))
