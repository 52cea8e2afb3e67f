"""Faults of timing: a request's latencies, and how requests share the engine."""
from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from simulator.faults.base import Fault

if TYPE_CHECKING:
    from simulator.timing import Slowdown

STALL_S = 0.05  # the late token of stall_every_tokens: a scheduler hiccup of 50 ms
SLOW_REQUEST_FACTOR = 1.5  # the requests of slow_requests_pct: 50% longer
SPREAD = 37  # coprime to 100: request numbers times it modulo 100 pick N in every 100, spread out


class _Slower(Fault):
    """Every request slower by the fault's value: the field of its Slowdown that `sets` names."""

    value_type = int
    sets: ClassVar[str]

    def slowdown(self, slowdown: Slowdown, number: int) -> Slowdown:
        return slowdown._replace(**{self.sets: self.value})


class SlowFirstTokenMs(_Slower):
    """MS: adds MS milliseconds to every time to first token"""
    name, category, sets = "slow_first_token_ms", "performance", "first_token_ms"


class SlowDecodeMs(_Slower):
    """MS: adds MS milliseconds to every further token (slow decode: TPOT and ITL grow)"""
    name, category, sets = "slow_decode_ms", "performance", "decode_ms"


class SlowImagePath(_Slower):
    """F: the vision encoder takes F times as long for each picture the processor cache does not hold
    (SIM_IMAGE_ENCODE_MS); a cached picture shows nothing"""
    name, category, sets = "slow_image_path", "performance", "image_factor"


class SlowAudioPath(_Slower):
    """F: the speech encoder takes F times as long for each clip it processes (SIM_AUDIO_ENCODE_MS_PER_S)"""
    name, category, sets = "slow_audio_path", "performance", "audio_factor"


class SlowRequestsPct(Fault):
    """N: N chat requests in every 100 (spread out, the same ones every run) take 50% longer: their time to first
    token and every token after it (a tail the body does not show)"""
    name, category = "slow_requests_pct", "performance"
    value_type = int

    def slowdown(self, slowdown: Slowdown, number: int) -> Slowdown:
        return slowdown._replace(factor=SLOW_REQUEST_FACTOR) if number * SPREAD % 100 < self.value else slowdown


@dataclass
class StallEveryTokens(Fault):
    """N: every N-th token the server generates (across all requests) comes 50 ms late: a periodic stall that moves
    the inter-token latency's tail, not its body"""
    name, category = "stall_every_tokens", "performance"
    value_type = int
    lock: threading.Lock = field(default_factory=threading.Lock)
    generated: int = 0  # tokens planned so far, across all requests

    def deadlines(self, deadlines: list[float]) -> list[float]:
        """The late token delays the tokens after it in its stream with it."""
        with self.lock:
            first, self.generated = self.generated, self.generated + len(deadlines)
        delay, delayed = 0.0, []
        for number, deadline in enumerate(deadlines, start=first + 1):
            delay += STALL_S * (number % self.value == 0)
            delayed.append(deadline + delay)
        return delayed


@dataclass
class SerializeRequests(Fault):
    """answers one request at a time (batching broken: throughput collapses under load)"""
    name, category = "serialize_requests", "performance"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def generating(self) -> AbstractContextManager[object]:
        return self.lock
