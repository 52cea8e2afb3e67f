"""Nightly against the previous nightly: no figure of this run is worse than --compare-to's beyond the
profile's tolerance and noise floor, judged on the samples behind each figure (inside each run's metrics.json,
the one file Jenkins copies). A regression is "too slow". Every figure that could not be judged (too few
samples on a side, or measured by one run only) is named: a warning on nightly, a gate not run at release
sign-off; a throughput bound by a load's arrival rate is listed, never judged (that load's TPOT and ITL are).
The full before/after table goes to reports/comparison.md."""
from __future__ import annotations

import warnings
from collections.abc import Callable

import pytest

from fixtures.reporting import compare_with_previous
from phi4mm_acceptance.deployment.settings import RunSettings
from phi4mm_acceptance.performance.compare import table
from phi4mm_acceptance.verdicts import TooSlow

pytestmark = [pytest.mark.performance, pytest.mark.nightly]


def test_no_regression_against_previous_run(settings: RunSettings, run_figures: dict[str, dict],
                                            missing_prerequisite: Callable[..., None]) -> None:
    if settings.compare_to is None:
        missing_prerequisite("no previous run to compare with: pass --compare-to PATH/metrics.json")
    comparison = compare_with_previous(settings, run_figures)
    settings.reports_dir.mkdir(parents=True, exist_ok=True)
    unjudged = "".join(f"\n- {figure}" for figure in comparison.unjudged)
    (settings.reports_dir / "comparison.md").write_text(
        f"# This run against {settings.compare_to}\n\n{table(comparison.changes)}\n"
        + (f"\nNot judged:{unjudged}\n" if unjudged else ""))
    limits = settings.profile.regression
    judged = [c for c in comparison.changes if c.judged]
    worse = [c for c in judged if c.regressed]
    if worse:
        raise TooSlow(f"{len(worse)} of {len(judged)} judged figures regressed beyond {limits.tolerance:.0%} and the "
                      f"noise floor ({limits.describe_floors()}) with the samples shifted (p < {limits.alpha:g}; "
                      f"{limits.origin or 'no origin given'}):\n{table(worse)}")
    if not judged and not comparison.unjudged:
        missing_prerequisite(f"{settings.compare_to} and this run measured no figure to compare")
    if comparison.unjudged:
        missing_prerequisite(f"{len(comparison.unjudged)} figure(s) could not be judged against {settings.compare_to}"
                             f" ({len(judged)} were, none regressed; at least {limits.min_samples} samples a side "
                             f"needed):{unjudged}", warnings.warn)
