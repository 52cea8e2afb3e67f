"""The numeric gates of a run, for the release report: each a metric, what was measured, its budget, where
the budget comes from, and the verdict. The tests judge; this module only lines their figures up against the
profile's numbers again, so the release owner reads every number in one table.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from phi4mm_acceptance.accuracy.gates import gate_failures
from phi4mm_acceptance.deployment.profile import Profile
from phi4mm_acceptance.performance.budgets import budgets_from_profile
from phi4mm_acceptance.report.run import judging
from phi4mm_acceptance.verdicts import GATE_NOT_RUN


@dataclass(frozen=True)
class GateRow:
    gate: str  # the test it belongs to
    metric: str
    measured: str
    budget: str
    origin: str
    verdict: str  # pass, fail, not measured


def _figures(tests: dict[str, dict[str, Any]], test: str) -> dict[str, Any] | None:
    """The figures of a test that measured: passed, or failed on its numbers (not a gate that did not run)."""
    entry = tests.get(test)
    measured = entry and entry["outcome"] in ("passed", "failed") and entry["figures"].get("failure_kind") != \
        GATE_NOT_RUN
    return entry["figures"] if measured else None


def _number(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def load_rows(profile: Profile, tests: dict[str, dict[str, Any]]) -> list[GateRow]:
    rows = []
    for load in profile.performance:
        for test in judging(tests, f"performance.{load.name}"):
            figures = _figures(tests, test)
            if figures is None:
                continue
            for budget in budgets_from_profile(load.budgets, load.origin):
                verdict = budget.judge(figures)
                rows.append(GateRow(test.split("::")[-1], budget.metric,
                                    "-" if verdict.measured is None else _number(verdict.measured),
                                    f"{'<=' if budget.ceiling else '>='} {budget.limit:g}", load.origin,
                                    "not measured" if verdict.measured is None else
                                    "pass" if verdict.passed else "fail"))
    return rows


def accuracy_rows(profile: Profile, tests: dict[str, dict[str, Any]]) -> list[GateRow]:
    accuracy = profile.accuracy
    if accuracy is None:
        return []
    rows = []
    for metric, limit, ceiling in (("canary_image_accuracy", accuracy.canary_min_image_accuracy, False),
                                   ("canary_audio_wer", accuracy.canary_max_audio_wer, True)):
        test = next((test for test, entry in tests.items() if metric in entry["figures"]), "")  # its canary's
        figures = _figures(tests, test)
        if figures is not None and isinstance(figures.get(metric), (int, float)):
            value = figures[metric]
            ok = value <= limit if ceiling else value >= limit
            rows.append(GateRow(test.split("::")[-1], metric, _number(value), f"{'<=' if ceiling else '>='} {limit:g}",
                                accuracy.origin, "pass" if ok else "fail"))
    for dataset in accuracy.datasets:
        test = next(iter(judging(tests, f"accuracy.aisbench.{dataset.name}")), "")
        figures = _figures(tests, test)
        if figures is None or not isinstance(figures.get("score"), (int, float)):
            continue
        budget = " and ".join(part for part in (
            f"score >= {dataset.baseline - dataset.band:g}" if dataset.baseline is not None and dataset.band else "",
            f"Wilson lower bound >= {dataset.floor:g}" if dataset.floor is not None else "") if part)
        failed = gate_failures(dataset, float(figures["score"]), int(figures.get("samples") or 0))
        rows.append(GateRow(test.split("::")[-1], "score (n)", f"{figures['score']:.2f} ({figures.get('samples')})",
                            budget, dataset.origin, "fail" if failed else "pass"))
    return rows


def soak_rows(profile: Profile, tests: dict[str, dict[str, Any]]) -> list[GateRow]:
    test = next(iter(judging(tests, "soak")), "")
    figures = _figures(tests, test)
    if profile.soak is None or figures is None or "rss_growth_mb" not in figures:
        return []
    growth = float(figures["rss_growth_mb"])
    return [GateRow(test.split("::")[-1], "rss_growth_mb", _number(growth),
                    f"<= {profile.soak.max_rss_growth_mb:g} over {profile.soak.images} images", profile.soak.origin,
                    "pass" if growth <= profile.soak.max_rss_growth_mb else "fail")]


def gate_rows(profile: Profile, tests: dict[str, dict[str, Any]]) -> list[GateRow]:
    return load_rows(profile, tests) + accuracy_rows(profile, tests) + soak_rows(profile, tests)
