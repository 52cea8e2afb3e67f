"""Performance budgets: each is a metric, a limit and where the number comes from, judged into a verdict
whose message carries the measured value, the limit and the origin.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CEILINGS = {  # profile key -> metric key in vllm-bench-style results
    "max_failed": "failed",
    "max_p99_ttft_ms": "p99_ttft_ms",
    "max_mean_ttft_ms": "mean_ttft_ms",
    "max_mean_tpot_ms": "mean_tpot_ms",
    "max_p99_tpot_ms": "p99_tpot_ms",
    "max_p99_itl_ms": "p99_itl_ms",
    "max_p99_e2el_ms": "p99_e2el_ms",
}


@dataclass(frozen=True)
class Budget:
    metric: str
    limit: float
    ceiling: bool  # True: measured must be <= limit; False: measured must be >= limit
    origin: str

    def judge(self, results: dict[str, Any]) -> Verdict:
        measured = results.get(self.metric)
        if not isinstance(measured, (int, float)):
            return Verdict(self, None, False)
        return Verdict(self, float(measured), measured <= self.limit if self.ceiling else measured >= self.limit)


@dataclass(frozen=True)
class Verdict:
    budget: Budget
    measured: float | None
    passed: bool

    @property
    def message(self) -> str:
        b = self.budget
        if self.measured is None:
            return f"{b.metric}: not in the results"
        sign = "<=" if b.ceiling else ">="
        state = "ok" if self.passed else "OVER BUDGET" if b.ceiling else "UNDER BUDGET"
        return f"{b.metric} = {self.measured:.2f}, budget {sign} {b.limit:.2f} ({b.origin}): {state}"


LATENCY_CEILINGS = tuple(key for key in CEILINGS if key != "max_failed")


def missing_gates(table: dict[str, Any]) -> list[str]:
    """What a load's budget table leaves ungated: failed requests, latency. Throughput is gated against the
    accepted baseline (tests/test_regression.py), which says when there is none."""
    missing = []
    if "max_failed" not in table:
        missing.append("max_failed, so failed requests are not gated")
    if not any(key in table for key in LATENCY_CEILINGS):
        missing.append(f"latency budget (none of {', '.join(LATENCY_CEILINGS)}), so latency is not gated")
    return missing


def budgets_from_profile(table: dict[str, Any], origin: str) -> list[Budget]:
    """Ceilings by name, and an absolute throughput floor as ratio x baseline_output_throughput where a profile
    sets one (a backstop: the accepted baseline gates throughput relative to what this deployment measured)."""
    budgets = [Budget(metric, float(table[key]), True, origin) for key, metric in CEILINGS.items() if key in table]
    if "baseline_output_throughput" in table:
        ratio = float(table.get("min_output_throughput_ratio", 0.97))
        budgets.append(Budget("output_throughput", ratio * float(table["baseline_output_throughput"]), False,
                              f"{ratio} x baseline {table['baseline_output_throughput']}; {origin}"))
    return budgets
