"""Before/after: this run's figures against a previous run's metrics.json, judged as distributions.

Direction comes from the metric's name: latencies (`*_ms`) should not grow, throughputs should not shrink.
A figure counts only with enough samples behind it on both sides (`min_samples`): a latency figure needs its
samples (reports/samples/), and a throughput the number of requests it was measured over; a single-shot
latency is listed, never judged. A latency regresses when the figure is worse by more than what is allowed
(`tolerance` of it, or its metric's noise floor, the larger) and the samples say the server got worse by more
than that too, which a figure alone (a mean, or a p99 that is the second-slowest of 200) cannot:
- a mean or median: the whole distribution moved beyond the allowed change (one-sided Mann-Whitney U of this
  run's samples against the previous run's shifted by it, p < `alpha`), so one slow tail sample is none;
- a percentile (p99): more of this run's samples than of the previous run's lie beyond the previous run's
  p99 plus the allowed change (one-sided Fisher exact test of those counts, p < `alpha`: both samples'
  chance is counted, as the previous p99 is itself an estimate), so a tail that grew while the body stayed is
  caught, which a test of the whole distribution cannot see, and a tail within the allowance is not.
A throughput is judged only where the server bounds it: a load whose requests arrive at a set rate finishes
at that rate however slowly the server decodes (its TPOT and ITL show that), so its throughput is listed,
not judged. SciPy's tests: no reason to write our own.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from phi4mm_acceptance.deployment.profile import RegressionSpec, base_metric
from phi4mm_acceptance.performance.metrics import percentile
from phi4mm_acceptance.performance.samples import read_samples, samples_of_run

STATISTIC = re.compile(r"^(?:(?P<centre>mean|median)|p(?P<quantile>\d+(?:\.\d+)?))_(?P<base>.+_ms)$")


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
    not_judged: str = ""  # why the figure cannot be judged, whatever its samples
    was: tuple[float, ...] = ()  # a latency's samples, before and after
    now: tuple[float, ...] = ()

    @property
    def allowed_ms(self) -> float:
        """How much a latency may grow: its tolerance of the figure or its noise floor, the larger."""
        return max(self.limits.tolerance * self.before, self.limits.floor_ms(self.metric))

    @cached_property
    def p_value(self) -> float | None:
        """How likely the samples are no worse than before's plus the allowance; None for a throughput."""
        if self.higher_is_better or not self.was or not self.now:
            return None
        return worse_p_value(self.metric, list(self.was), list(self.now), self.allowed_ms)

    @property
    def relative(self) -> float:
        return (self.after - self.before) / self.before if self.before else 0.0

    @property
    def judged(self) -> bool:
        return not self.not_judged and min(self.samples_before, self.samples_after) >= self.limits.min_samples

    @property
    def regressed(self) -> bool:
        worse = -self.relative if self.higher_is_better else self.relative
        beyond_noise = self.higher_is_better or self.after - self.before > self.allowed_ms
        moved = self.p_value is None or self.p_value < self.limits.alpha
        return self.judged and worse > self.limits.tolerance and beyond_noise and moved

    @property
    def verdict(self) -> str:
        if self.not_judged:
            return f"not judged: {self.not_judged}"
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


def against_previous(previous_metrics: Path, reports: Path, limits: RegressionSpec,
                     figures: dict[str, dict]) -> Comparison:
    """This run's figures and samples (in `reports`) against a previous run's (inside its metrics.json)."""
    previous = load_metrics(previous_metrics)
    samples = (samples_of_run(previous, previous_metrics, reports), read_samples(reports))
    return Comparison(compare(previous["tests"], figures, limits, *samples),
                      one_sided(previous["tests"], figures, limits, *samples))


def arrival_bound(figures: dict[str, Any]) -> str:
    """Why a load's throughput says nothing about the server: its requests arrived at a set rate."""
    rate = figures.get("request_rate")
    if isinstance(rate, (int, float)) and not isinstance(rate, bool):
        return f"throughput bound by the arrivals ({rate:g} requests/s); TPOT and ITL show a slower server"
    return ""


def _behind(metric: str, figures: dict[str, Any], samples: dict[str, list[float]]) -> list[float] | int:
    """The samples behind a latency figure, or the request count behind a throughput."""
    if direction(metric):
        completed = figures.get("completed")
        return int(completed) if isinstance(completed, int) else 1
    return samples.get(base_metric(metric), [])


def _count(behind: list[float] | int) -> int:
    return len(behind) if isinstance(behind, list) else behind


def worse_p_value(metric: str, was: list[float], now: list[float], allowed: float) -> float:
    """How likely this run's samples are no worse than the previous run's plus `allowed`, by the figure's
    statistic.

    scipy is imported here, not at the top: it costs about a second at every run's start, and only --compare-to
    runs need it."""
    from scipy.stats import fisher_exact, mannwhitneyu

    match = STATISTIC.match(metric)
    if match and match["quantile"]:
        threshold = percentile(was, float(match["quantile"])) + allowed
        beyond_now, beyond_was = (sum(value > threshold for value in values) for values in (now, was))
        counts = [[beyond_now, len(now) - beyond_now], [beyond_was, len(was) - beyond_was]]
        return float(fisher_exact(counts, alternative="greater").pvalue)
    return float(mannwhitneyu(now, [value + allowed for value in was], alternative="greater").pvalue)


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
            changes.append(Change(test, metric, float(previous), float(value), higher, limits, _count(was),
                                  _count(now), _never_judged(metric, new, now)
                                  or (_never_judged(metric, old, was) if higher else ""),
                                  tuple(was) if isinstance(was, list) else (),
                                  tuple(now) if isinstance(now, list) else ()))
    return changes


def _never_judged(metric: str, figures: dict[str, Any], behind: list[float] | int) -> str:
    """Why a figure is listed and never judged, by design: a throughput bound by its arrivals, or a latency
    measured once (a chat test's own request time: judged one by one, healthy runs would be flagged)."""
    if direction(metric):
        return arrival_bound(figures)
    return "" if behind else "a single-shot latency: listed, never judged"


def _judgeable(test: str, metric: str, tests: dict[str, Any], samples: dict[str, dict[str, list[float]]],
               limits: RegressionSpec) -> bool:
    """Whether a run's figure would be judged had the other run measured it too."""
    figures = tests[test].get("figures") or {}
    behind = _behind(metric, figures, samples.get(test, {}))
    return not _never_judged(metric, figures, behind) and _count(behind) >= limits.min_samples


def one_sided(before: dict[str, Any], after: dict[str, Any], limits: RegressionSpec,
              before_samples: dict[str, dict[str, list[float]]],
              after_samples: dict[str, dict[str, list[float]]], reference: str = "the previous run") -> list[str]:
    """The figures only one of the two runs measured that would be judged had both, named."""
    def judgeable(tests: dict[str, Any], samples: dict[str, dict[str, list[float]]]) -> list[tuple[str, str]]:
        return sorted((test, metric) for test, entry in tests.items() if isinstance(entry, dict)
                      for metric in entry.get("figures") or {}
                      if measured(tests, test, metric) and _judgeable(test, metric, tests, samples, limits))

    def measured(tests: dict[str, Any], test: str, metric: str) -> bool:
        value = ((tests.get(test) or {}).get("figures") or {}).get(metric)
        return direction(metric) is not None and isinstance(value, (int, float)) and not isinstance(value, bool)

    return ([f"{test.split('::')[-1]} {metric}: not measured in {reference}"
             for test, metric in judgeable(after, after_samples) if not measured(before, test, metric)]
            + [f"{test.split('::')[-1]} {metric}: measured in {reference}, not in this one"
               for test, metric in judgeable(before, before_samples) if not measured(after, test, metric)])


@dataclass(frozen=True)
class Comparison:
    """This run against a previous one: each figure both measured, and what only one did."""

    changes: list[Change]
    one_sided: list[str]

    @property
    def unjudged(self) -> list[str]:
        """Every figure that should have been judged and could not: too few samples on a side, or one side only
        (a throughput bound by its arrivals is never judged, by design: TPOT and ITL judge that load)."""
        return [f"{c.test.split('::')[-1]} {c.metric}: {c.verdict.removeprefix('not judged: ')} (before "
                f"{c.samples_before}, after {c.samples_after})"
                for c in self.changes if not c.judged and not c.not_judged] + self.one_sided


def table(changes: list[Change]) -> str:
    rows = ["| test | metric | before (n) | after (n) | change | p | verdict |", "|---|---|---|---|---|---|---|"]
    for c in changes:
        name = c.test.split("::")[-1]
        p = f"{c.p_value:.3g}" if c.p_value is not None else "-"
        rows.append(f"| {name} | {c.metric} | {c.before:.2f} ({c.samples_before}) | {c.after:.2f} "
                    f"({c.samples_after}) | {c.relative:+.1%} | {p} | {c.verdict} |")
    return "\n".join(rows)
