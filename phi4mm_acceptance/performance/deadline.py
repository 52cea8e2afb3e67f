"""How long a load may run before waiting longer proves nothing: its arrivals, then each wave of requests (the
load's concurrency at a time) taking at most the profile's request timeout, plus the tool's own start and
summary. A healthy server finishes well inside it; a tool that hangs (AISBench's summarizer is known to,
AISBench/benchmark#205) is killed at it with a clear message, not hours later."""
from __future__ import annotations

import math
from typing import Protocol

TOOL_START_S = 120  # a load tool's start (imports, tokenizer) and its summary, on a busy machine


class LoadLike(Protocol):
    @property
    def num_prompts(self) -> int: ...
    @property
    def request_rate(self) -> float: ...
    @property
    def max_concurrency(self) -> int | None: ...


def load_deadline_s(load: LoadLike, request_timeout_s: float) -> float:
    arrivals = 0.0 if math.isinf(load.request_rate) else load.num_prompts / load.request_rate
    waves = math.ceil(load.num_prompts / (load.max_concurrency or load.num_prompts))
    return TOOL_START_S + arrivals + waves * request_timeout_s
