"""Serving metrics from per-request timings, defined exactly as `vllm bench serve` defines them, with the
same JSON keys, so the suite's own load generator and the real tool compare one to one.

TTFT = first generated text - send; TPOT = (latency - TTFT) / (output tokens - 1), only for requests with
more than one output token; ITL = gaps between successive streamed chunks; E2EL = whole request latency.
Percentiles interpolate linearly between samples (numpy's default); std is the population std.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

METRICS = ("ttft", "tpot", "itl", "e2el")
DEFAULT_PERCENTILES = (50, 90, 99)


@dataclass
class RequestRecord:
    """One request of a load run; times in seconds since the run started."""

    sent_s: float
    scheduled_s: float = 0.0  # when the arrival process wanted it sent; sent_s - scheduled_s is client skew
    success: bool = False
    ttft_s: float = 0.0
    latency_s: float = 0.0
    itls_s: list[float] = field(default_factory=list)
    chunk_times_s: list[float] = field(default_factory=list)  # arrival of each token chunk, run clock
    prompt_tokens: int = 0
    output_tokens: int = 0
    error: str = ""
    status: int = 0  # the HTTP status of a request answered with an error

    @property
    def overloaded(self) -> bool:
        """Refused for load (429 Too Many Requests, 503 Service Unavailable): too slow, not a broken promise."""
        return self.status in (429, 503)


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _stats(name: str, values_ms: list[float], percentiles: Sequence[float]) -> dict[str, float]:
    mean = sum(values_ms) / len(values_ms) if values_ms else 0.0
    std = math.sqrt(sum((v - mean) ** 2 for v in values_ms) / len(values_ms)) if values_ms else 0.0
    stats = {f"mean_{name}_ms": mean, f"median_{name}_ms": percentile(values_ms, 50), f"std_{name}_ms": std}
    stats |= {f"p{_label(p)}_{name}_ms": percentile(values_ms, p) for p in percentiles}
    return stats


def _label(p: float) -> str:
    return str(int(p)) if float(p).is_integer() else str(p)


def latency_samples(records: list[RequestRecord]) -> dict[str, list[float]]:
    """Each metric's samples in ms, by its name without the unit (ttft, tpot, itl, e2el)."""
    ok = [r for r in records if r.success]
    return {
        "ttft": [r.ttft_s * 1000 for r in ok],
        "tpot": [(r.latency_s - r.ttft_s) / (r.output_tokens - 1) * 1000 for r in ok if r.output_tokens > 1],
        "itl": [gap * 1000 for r in ok for gap in r.itls_s],
        "e2el": [r.latency_s * 1000 for r in ok],
    }


def summarise(records: list[RequestRecord], duration_s: float,
              percentiles: Sequence[float] = DEFAULT_PERCENTILES) -> dict[str, Any]:
    ok = [r for r in records if r.success]
    samples = latency_samples(records)
    input_tokens = sum(r.prompt_tokens for r in ok)
    output_tokens = sum(r.output_tokens for r in ok)
    result: dict[str, Any] = {
        "duration": duration_s,
        "completed": len(ok),
        "failed": len(records) - len(ok),
        "total_input_tokens": input_tokens,
        "total_output_tokens": output_tokens,
        "request_throughput": len(ok) / duration_s if duration_s else 0.0,
        "output_throughput": output_tokens / duration_s if duration_s else 0.0,
        "total_token_throughput": (input_tokens + output_tokens) / duration_s if duration_s else 0.0,
        "max_output_tokens_per_s": _peak_tokens_per_second(ok),
        "max_concurrent_requests": _peak_concurrency(ok),
    }
    for name in METRICS:
        result |= _stats(name, samples[name], percentiles)
    return result


def _peak_tokens_per_second(records: list[RequestRecord]) -> float:
    buckets: dict[int, int] = {}
    for record in records:
        for arrived in record.chunk_times_s:
            buckets[int(arrived)] = buckets.get(int(arrived), 0) + 1
    return float(max(buckets.values(), default=0))


def _peak_concurrency(records: list[RequestRecord]) -> int:
    events = sorted([(r.sent_s, 1) for r in records] + [(r.sent_s + r.latency_s, -1) for r in records])
    running = peak = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    return peak
