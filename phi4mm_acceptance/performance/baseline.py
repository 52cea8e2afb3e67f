"""The accepted baseline: several healthy runs of a deployment's loads merged into the reference every later run
is judged against, with each figure's spread between those runs and where the runs came from.

A baseline file has metrics.json's shape (`tests` -> test id -> `figures`, `samples`), so the comparison that
judges a run against the previous one judges it against the baseline too: each figure is the median of the
accepted runs', its samples are all of theirs pooled, and `spread` keeps every run's value. The spread is the
noise a healthy deployment shows from run to run, so it widens the noise floor: a latency must be worse than three
standard deviations of it between runs (estimated from the accepted runs' range) and the profile's floor and
tolerance, a throughput worse by more than that relative to its median.
"""
from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from phi4mm_acceptance.deployment.profile import RegressionSpec
from phi4mm_acceptance.performance.compare import Change, Comparison, compare, one_sided

KIND = "phi4mm-acceptance accepted baseline"


class BaselineError(ValueError):
    """A baseline cannot be made or read; the message says which file and why."""


@dataclass(frozen=True)
class AcceptedRun:
    """One healthy run's metrics.json, by where it was read."""

    path: Path
    metrics: dict[str, Any]


def read_run(path: Path) -> AcceptedRun:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BaselineError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("tests"), dict) or not isinstance(data.get("run"), dict):
        raise BaselineError(f"{path} is not a phi4mm-acceptance metrics.json")
    return AcceptedRun(path, data)


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def merge_runs(runs: list[AcceptedRun], origin: dict[str, Any]) -> dict[str, Any]:
    """The baseline of these runs: every test that passed in all of them with the figures they all measured."""
    if not runs:
        raise BaselineError("no runs to accept")
    problems = [f"{run.path}: verdict {run.metrics['run'].get('verdict')}" for run in runs
                if run.metrics["run"].get("verdict") != "passed"]
    identities = {(run.metrics["run"].get("profile"), run.metrics["run"].get("hardware")) for run in runs}
    if len(identities) > 1:
        problems.append(f"the runs are of different profiles or hardware: {sorted(map(str, identities))}")
    if problems:
        raise BaselineError("only healthy runs of one deployment make a baseline: " + "; ".join(problems))
    tests: dict[str, Any] = {}
    for test in sorted(set.intersection(*(set(run.metrics["tests"]) for run in runs))):
        entries = [run.metrics["tests"][test] for run in runs]
        if any(entry.get("outcome") != "passed" for entry in entries):
            continue
        figures = [entry.get("figures") or {} for entry in entries]
        measured = sorted(k for k in set.intersection(*(set(f) for f in figures))
                          if all(_numeric(f[k]) for f in figures))
        if not measured:
            continue
        samples = [entry.get("samples") or {} for entry in entries]
        pooled = {metric: [value for s in samples for value in s[metric]]
                  for metric in sorted(set.intersection(*(set(s) for s in samples)))}
        tests[test] = {
            "outcome": "passed",
            "figures": {k: _middle([f[k] for f in figures]) for k in measured}
            | {k: figures[0][k] for k in figures[0] if k not in measured},
            "spread": {k: [f[k] for f in figures] for k in measured},
            "samples": pooled,
        }
    if not tests:
        raise BaselineError("the runs share no passed test with figures: nothing to accept")
    first = runs[0].metrics["run"]
    return {"kind": KIND,
            "origin": {**origin, "runs": [str(run.path.resolve()) for run in runs], "profile": first.get("profile"),
                       "hardware": first.get("hardware"), "target": first.get("target"),
                       "image": first.get("image"), "vllm": first.get("server_version"),
                       "vllm_ascend": first.get("vllm_ascend"), "suite": first.get("suite_version"),
                       "simulated": first.get("simulated")},
            "tests": tests}


def _middle(values: list[float]) -> float:
    """The median; of counts (completed requests, tokens) a count, so the figure still says how many."""
    return statistics.median_low(values) if all(isinstance(v, int) for v in values) else statistics.median(values)


def load_baseline(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BaselineError(f"cannot read the accepted baseline {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("kind") != KIND or not isinstance(data.get("tests"), dict):
        raise BaselineError(f"{path} is not an accepted baseline (phi4mm-accept-baseline writes them)")
    return data


def describe_origin(baseline: dict[str, Any]) -> str:
    origin = baseline.get("origin") or {}
    return (f"accepted {origin.get('accepted_at', '?')} on {origin.get('host', '?')} from {len(origin.get('runs', []))}"
            f" run(s): profile {origin.get('profile')}, image {origin.get('image') or '-'}, vLLM {origin.get('vllm')}"
            f", vllm-ascend {origin.get('vllm_ascend') or '-'}, suite {origin.get('suite')}")


D2 = {2: 1.128, 3: 1.693, 4: 2.059, 5: 2.326, 6: 2.534, 7: 2.704, 8: 2.847, 9: 2.970, 10: 3.078}  # E[range] / sigma


def run_noise(values: list[float]) -> float:
    """Three standard deviations of a figure between healthy runs, estimated from the accepted runs' range
    (range / d2, as control charts do: two or three runs' range underestimates the spread a later run shows),
    or their sample standard deviation from 11 runs on."""
    sigma = (max(values) - min(values)) / D2[len(values)] if len(values) in D2 else statistics.stdev(values)
    return 3 * sigma


def with_spread(change: Change, values: list[float]) -> Change:
    """The change judged with the figure's run-to-run noise (run_noise) as its floor: a latency's noise floor
    rises to it (ms), a throughput's tolerance to it relative to the median. One run measures no noise: the
    profile's limits."""
    if len(values) < 2:
        return change
    noise = run_noise(values)
    limits: RegressionSpec = change.limits
    if change.higher_is_better:
        middle = statistics.median(values)
        return replace(change, limits=replace(limits, tolerance=max(limits.tolerance, noise / middle if middle else 0)))
    floor = max(limits.floor_ms(change.metric), noise)
    return replace(change, limits=replace(limits, min_change_ms=floor, metric_floors_ms={}))


def against_baseline(baseline: dict[str, Any], figures: dict[str, dict], samples: dict[str, dict[str, list[float]]],
                     limits: RegressionSpec) -> Comparison:
    """This run's figures and samples against the baseline's, each judged with its spread."""
    before = baseline["tests"]
    before_samples = {test: entry.get("samples") or {} for test, entry in before.items()}
    changes = [with_spread(change, before.get(change.test, {}).get("spread", {}).get(change.metric, []))
               for change in compare(before, figures, limits, before_samples, samples)]
    return Comparison(changes, one_sided(before, figures, limits, before_samples, samples, "the accepted baseline"))
