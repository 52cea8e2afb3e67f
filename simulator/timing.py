"""The simulator's timing model: latencies that are known ground truth for the suite's measurements.

Time to first token grows with prompt length, each further token takes a fixed decode time, and both
stretch with the number of requests running at once (a batch shares the accelerator).
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True)
class TimingModel:
    load_delay_s: float = 1.0
    ttft_base_ms: float = 20.0
    ttft_per_prompt_token_ms: float = 0.01
    tpot_ms: float = 2.0
    concurrency_slowdown: float = 0.05
    image_encode_ms: float = 0.0  # the vision encoder, per picture the processor cache does not hold
    audio_encode_ms_per_s: float = 0.0  # the speech encoder, per second of audio it processes

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> TimingModel:
        env = dict(os.environ if env is None else env)
        names = {
            "load_delay_s": "SIM_LOAD_DELAY_S",
            "ttft_base_ms": "SIM_TTFT_MS",
            "ttft_per_prompt_token_ms": "SIM_TTFT_PER_PROMPT_TOKEN_MS",
            "tpot_ms": "SIM_TPOT_MS",
            "concurrency_slowdown": "SIM_CONCURRENCY_SLOWDOWN",
            "image_encode_ms": "SIM_IMAGE_ENCODE_MS",
            "audio_encode_ms_per_s": "SIM_AUDIO_ENCODE_MS_PER_S",
        }
        values = {field: float(env[var]) for field, var in names.items() if env.get(var, "").strip()}
        return cls(**values)

    def slowdown(self, running: int) -> float:
        return 1.0 + self.concurrency_slowdown * max(running - 1, 0)

    def ttft_s(self, prompt_tokens: int, running: int, extra_ms: float = 0.0) -> float:
        base = self.ttft_base_ms + self.ttft_per_prompt_token_ms * prompt_tokens
        return (base * self.slowdown(running) + extra_ms) / 1000.0

    def encode_ms(self, images: int, audio_s: float, image_factor: int = 1, audio_factor: int = 1) -> float:
        """The encoders' time before prefill, for the media the processor cache did not hold; a slow path's
        factor multiplies its encoder's time."""
        return (images * self.image_encode_ms * max(image_factor, 1)
                + audio_s * self.audio_encode_ms_per_s * max(audio_factor, 1))

    def tpot_s(self, running: int) -> float:
        return self.tpot_ms * self.slowdown(running) / 1000.0


class Slowdown(NamedTuple):
    """What faults add to one request's timing: time before the first token and after each, encoders' factors."""

    first_token_ms: float = 0.0
    decode_ms: float = 0.0
    image_factor: int = 1
    audio_factor: int = 1
    factor: float = 1.0  # the whole request: its time to first token and every token after it


class RunningRequests:
    """Counts requests in flight; the count feeds the slowdown and /metrics."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def __enter__(self) -> int:
        with self._lock:
            self.count += 1
            return self.count

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.count -= 1


def sleep_until(deadline: float) -> None:
    """Sleep to an absolute perf_counter deadline; short waits spin for sub-millisecond accuracy."""
    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            return
        time.sleep(left - 0.0005 if left > 0.002 else 0)
