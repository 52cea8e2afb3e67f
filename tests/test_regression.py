"""Nightly against the previous nightly: no figure of this run is worse than --compare-to's beyond the
profile's tolerance. The full before/after table goes to reports/comparison.md."""
from __future__ import annotations

import pytest

from phi4mm_acceptance.compare import compare, load_metrics, table
from phi4mm_acceptance.settings import RunSettings

pytestmark = [pytest.mark.performance, pytest.mark.nightly]


def test_no_regression_against_previous_run(settings: RunSettings, run_figures: dict[str, dict]) -> None:
    if settings.compare_to is None:
        pytest.skip("no previous run to compare with: pass --compare-to PATH/metrics.json")
    changes = compare(load_metrics(settings.compare_to)["tests"], run_figures, settings.profile.regression)
    settings.reports_dir.mkdir(parents=True, exist_ok=True)
    (settings.reports_dir / "comparison.md").write_text(
        f"# This run against {settings.compare_to}\n\n{table(changes)}\n")
    if not changes:
        pytest.skip(f"{settings.compare_to} has no figures for the tests of this run")
    worse = [c for c in changes if c.regressed]
    limits = settings.profile.regression
    assert not worse, (f"{len(worse)} of {len(changes)} figures regressed beyond {limits.tolerance:.0%}"
                       f"{f' and {limits.min_change_ms:g} ms' if limits.min_change_ms else ''}:\n{table(worse)}")
