"""Before/after: this run's figures against a previous run's metrics.json, regressions beyond a tolerance.

Direction comes from the metric's name: latencies (`*_ms`) should not grow, throughputs should not shrink.
Only tests that ran in both runs are compared, and only figures both recorded.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phi4mm_acceptance.profile import RegressionSpec


@dataclass(frozen=True)
class Change:
    test: str
    metric: str
    before: float
    after: float
    higher_is_better: bool
    limits: RegressionSpec

    @property
    def relative(self) -> float:
        return (self.after - self.before) / self.before if self.before else 0.0

    @property
    def regressed(self) -> bool:
        worse = -self.relative if self.higher_is_better else self.relative
        beyond_noise = self.higher_is_better or self.after - self.before > self.limits.min_change_ms
        return worse > self.limits.tolerance and beyond_noise


def direction(metric: str) -> bool | None:
    """True: higher is better; False: lower is better; None: not compared."""
    if "throughput" in metric:
        return True
    if metric.endswith("_ms") and not metric.startswith("std_"):
        return False
    return None


def load_metrics(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or not isinstance(data.get("tests"), dict):
        raise ValueError(f"{path} is not a phi4mm-acceptance metrics.json")
    return data


def compare(before: dict[str, Any], after: dict[str, Any], limits: RegressionSpec) -> list[Change]:
    changes = []
    for test, entry in after.items():
        old = before.get(test, {}).get("figures", {})
        for metric, value in entry.get("figures", {}).items():
            higher = direction(metric)
            previous = old.get(metric)
            if higher is None or not isinstance(value, (int, float)) or not isinstance(previous, (int, float)):
                continue
            changes.append(Change(test, metric, float(previous), float(value), higher, limits))
    return changes


def table(changes: list[Change]) -> str:
    rows = ["| test | metric | before | after | change | verdict |", "|---|---|---|---|---|---|"]
    for c in changes:
        name = c.test.split("::")[-1]
        verdict = "REGRESSION" if c.regressed else "ok"
        rows.append(f"| {name} | {c.metric} | {c.before:.2f} | {c.after:.2f} | {c.relative:+.1%} | {verdict} |")
    return "\n".join(rows)
