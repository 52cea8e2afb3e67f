"""How much the server's resident memory grew over the memory soak (vllm#15294), judged on the fitted line so
neither one spike nor the noise of one reading decides."""
from __future__ import annotations

import statistics


def soak_growth(totals: list[float]) -> float:
    """Growth over the readings by the least-squares line through them all (its slope times the steps)."""
    if len(totals) < 2:
        return 0.0
    return statistics.linear_regression(range(len(totals)), totals).slope * (len(totals) - 1)


def growth_by_process(start: dict[str, float], end: dict[str, float]) -> dict[str, float]:
    """Each process's change (MB) from the `start` reading to the `end` one."""
    return {name: round(end.get(name, 0.0) - mb, 1) for name, mb in start.items()}
