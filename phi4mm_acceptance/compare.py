"""Before/after: this run's figures against a previous run's metrics.json, judged as distributions.

Direction comes from the metric's name: latencies (`*_ms`) should not grow, throughputs should not shrink.
A figure counts only with enough samples behind it on both sides (`min_samples`): a latency figure needs its
samples (reports/samples/), and a throughput the number of requests it was measured over; a single-shot
latency is listed, never judged. A latency regresses when the figure is worse by more than `tolerance` and by
more than the noise floor `min_change_ms`, and the samples say the distribution moved (one-sided
Mann-Whitney U, p < `alpha`); one slow tail sample is no regression. SciPy's test: no reason to write our own.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scipy.stats import mannwhitneyu

from phi4mm_acceptance.profile import RegressionSpec

STATISTIC = re.compile(r"^(?:mean|median|p\d+(?:\.\d+)?)_(?P<base>.+_ms)$")  # p99_ttft_ms -> ttft_ms


@dataclass(frozen=True)
class Change:
    test: str
    metric: str
    before: float
    after: float
    higher_is_better: bool
    limits: RegressionSpec
    samples_before: int = 0  # how many measurements the figure summarises (1: a single shot)
    samples_after: int = 0
    p_value: float | None = None  # after's distribution worse than before's; None for a throughput

    @property
    def relative(self) -> float:
        return (self.after - self.before) / self.before if self.before else 0.0

    @property
    def judged(self) -> bool:
        return min(self.samples_before, self.samples_after) >= self.limits.min_samples

    @property
    def regressed(self) -> bool:
        worse = -self.relative if self.higher_is_better else self.relative
        beyond_noise = self.higher_is_better or self.after - self.before > self.limits.min_change_ms
        moved = self.p_value is None or self.p_value < self.limits.alpha
        return self.judged and worse > self.limits.tolerance and beyond_noise and moved

    @property
    def verdict(self) -> str:
        if not self.judged:
            return f"not judged: fewer than {self.limits.min_samples} samples"
        return "REGRESSION" if self.regressed else "ok"


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


def _behind(metric: str, figures: dict[str, Any], samples: dict[str, list[float]]) -> list[float] | int:
    """The samples behind a latency figure, or the request count behind a throughput."""
    if direction(metric):
        completed = figures.get("completed")
        return int(completed) if isinstance(completed, int) else 1
    match = STATISTIC.match(metric)
    return samples.get(match["base"] if match else metric, [])


def _count(behind: list[float] | int) -> int:
    return len(behind) if isinstance(behind, list) else behind


def compare(before: dict[str, Any], after: dict[str, Any], limits: RegressionSpec,
            before_samples: dict[str, dict[str, list[float]]] | None = None,
            after_samples: dict[str, dict[str, list[float]]] | None = None) -> list[Change]:
    changes = []
    for test, entry in after.items():
        old = before.get(test, {}).get("figures", {})
        new = entry.get("figures", {})
        for metric, value in new.items():
            higher = direction(metric)
            previous = old.get(metric)
            if higher is None or not isinstance(value, (int, float)) or not isinstance(previous, (int, float)):
                continue
            was = _behind(metric, old, (before_samples or {}).get(test, {}))
            now = _behind(metric, new, (after_samples or {}).get(test, {}))
            p_value = None
            if isinstance(was, list) and isinstance(now, list) and was and now:
                p_value = float(mannwhitneyu(now, was, alternative="greater").pvalue)
            changes.append(Change(test, metric, float(previous), float(value), higher, limits, _count(was),
                                  _count(now), p_value))
    return changes


def table(changes: list[Change]) -> str:
    rows = ["| test | metric | before (n) | after (n) | change | p | verdict |", "|---|---|---|---|---|---|---|"]
    for c in changes:
        name = c.test.split("::")[-1]
        p = f"{c.p_value:.3g}" if c.p_value is not None else "-"
        rows.append(f"| {name} | {c.metric} | {c.before:.2f} ({c.samples_before}) | {c.after:.2f} "
                    f"({c.samples_after}) | {c.relative:+.1%} | {p} | {c.verdict} |")
    return "\n".join(rows)
