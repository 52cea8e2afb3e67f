"""Nightly against the previous nightly: no figure of this run is worse than --compare-to's beyond the
profile's tolerance and noise floor, judged on the samples behind each figure (a single-shot latency is
listed, never judged; a throughput bound by a load's arrival rate is listed, never judged). A regression is
"too slow". The full before/after table goes to reports/comparison.md."""
from __future__ import annotations

from collections.abc import Callable

import pytest

from fixtures.reporting import compare_with_previous
from phi4mm_acceptance.deployment.settings import RunSettings
from phi4mm_acceptance.performance.compare import table
from phi4mm_acceptance.verdicts import TooSlow

pytestmark = [pytest.mark.performance, pytest.mark.nightly]


def test_no_regression_against_previous_run(settings: RunSettings, run_figures: dict[str, dict],
                                            missing_prerequisite: Callable[[str], None]) -> None:
    if settings.compare_to is None:
        missing_prerequisite("no previous run to compare with: pass --compare-to PATH/metrics.json")
    changes = compare_with_previous(settings, run_figures)
    settings.reports_dir.mkdir(parents=True, exist_ok=True)
    (settings.reports_dir / "comparison.md").write_text(
        f"# This run against {settings.compare_to}\n\n{table(changes)}\n")
    limits = settings.profile.regression
    judged = [c for c in changes if c.judged]
    if not judged:
        missing_prerequisite(f"{settings.compare_to} and this run share no figure with {limits.min_samples} or "
                             f"more samples behind it ({len(changes)} figures, all single-shot)")
    worse = [c for c in judged if c.regressed]
    if worse:
        raise TooSlow(f"{len(worse)} of {len(judged)} judged figures regressed beyond {limits.tolerance:.0%} and the "
                      f"noise floor ({limits.describe_floors()}) with the samples shifted (p < {limits.alpha:g}; "
                      f"{limits.origin or 'no origin given'}):\n{table(worse)}")
