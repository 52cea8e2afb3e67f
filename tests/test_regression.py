"""Nightly against the accepted baseline and against the previous nightly: no figure of this run is worse than
the reference's beyond the profile's tolerance and noise floor, judged on the samples behind each figure (inside
metrics.json, the one file Jenkins copies, and inside the baseline file). Against the baseline the noise floor is
also three standard deviations of it between the runs accepted into it. A regression is "too slow". Every figure that could not
be judged (too few samples on a side, or measured on one side only) is named: a warning on nightly, a gate not run
at release sign-off; a throughput bound by a load's arrival rate is listed, never judged (that load's TPOT and ITL
are). The full before/after tables go to reports/comparison.md and reports/baseline-comparison.md."""
from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from phi4mm_acceptance.deployment.settings import RunSettings
from phi4mm_acceptance.performance.baseline import against_baseline, describe_origin, load_baseline
from phi4mm_acceptance.performance.compare import Comparison, against_previous, table
from phi4mm_acceptance.performance.samples import read_samples
from phi4mm_acceptance.verdicts import TooSlow

pytestmark = [pytest.mark.performance, pytest.mark.nightly]
ACCEPT = "phi4mm-accept-baseline --runs 3 -- <this run's options>"


def judge(comparison: Comparison, reference: str, settings: RunSettings, report: Path,
          missing_prerequisite: Callable[..., None]) -> None:
    """Write the before/after table; fail on a regression; name what could not be judged."""
    settings.report.reports_dir.mkdir(parents=True, exist_ok=True)
    unjudged = "".join(f"\n- {figure}" for figure in comparison.unjudged)
    report.write_text(
        f"# This run against {reference}\n\n{table(comparison.changes)}\n"
        + (f"\nNot judged:{unjudged}\n" if unjudged else ""))
    limits = settings.profile.regression
    judged = [c for c in comparison.changes if c.judged]
    worse = [c for c in judged if c.regressed]
    if worse:
        raise TooSlow(f"{len(worse)} of {len(judged)} judged figures regressed against {reference} beyond "
                      f"{limits.tolerance:.0%} and the noise floor ({limits.describe_floors()}; against a baseline "
                      f"at least 3 sigma of its runs) with the samples shifted (p < {limits.alpha:g}; "
                      f"{limits.origin or 'no origin given'}):\n{table(worse)}")
    if not judged and not comparison.unjudged:
        missing_prerequisite(f"{reference} and this run measured no figure to compare")
    if comparison.unjudged:
        missing_prerequisite(f"{len(comparison.unjudged)} figure(s) could not be judged against {reference} "
                             f"({len(judged)} were, none regressed; at least {limits.min_samples} samples a side "
                             f"needed):{unjudged}", warnings.warn)


def test_no_regression_against_accepted_baseline(settings: RunSettings, run_figures: dict[str, dict],
                                                missing_prerequisite: Callable[..., None],
                                                judges: Callable[[str], None],
                                                artifact: Callable[[Path], Path]) -> None:
    judges("regression.baseline")
    path: Path | None = settings.report.baseline
    if path is None:
        missing_prerequisite("no accepted baseline: --baseline none")
    if not path.is_file():
        missing_prerequisite(f"no accepted baseline at {path}: on a healthy deployment accept one with `{ACCEPT}` "
                             f"(README: accepting a baseline)")
    baseline = load_baseline(path)
    comparison = against_baseline(baseline, run_figures, read_samples(settings.report.reports_dir), settings.profile.regression)
    judge(comparison, f"the accepted baseline {path} ({describe_origin(baseline)})", settings,
          artifact(settings.report.reports_dir / "baseline-comparison.md"), missing_prerequisite)


def test_no_regression_against_previous_run(settings: RunSettings, run_figures: dict[str, dict],
                                            missing_prerequisite: Callable[..., None],
                                            artifact: Callable[[Path], Path]) -> None:
    if settings.report.compare_to is None:
        missing_prerequisite("no previous run to compare with: pass --compare-to PATH/metrics.json")
    judge(against_previous(settings.report.compare_to, settings.report.reports_dir, settings.profile.regression, run_figures),
          str(settings.report.compare_to), settings, artifact(settings.report.reports_dir / "comparison.md"), missing_prerequisite)
