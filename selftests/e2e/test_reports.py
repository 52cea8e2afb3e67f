"""The release report and --compare-to, end to end: a healthy run's report, then a slower run against it."""
from __future__ import annotations

from pathlib import Path

import pytest

from selftests.suite_run import run_suite

pytestmark = pytest.mark.e2e


def test_report_and_regression_against_the_previous_run(tmp_path: Path, port: int) -> None:
    args = ("-m", "performance", "-k", "load_meets or regression", "--target", "sim", "--port", str(port))
    first = run_suite(tmp_path / "nightly-1", *args)
    assert first.exit_code == 0, first.describe()
    reports = tmp_path / "nightly-1" / "reports"
    page = (reports / "report.html").read_text()
    assert "verdict: PASSED" in page and "hardware=SIMULATOR" in page
    assert {p.name for p in (reports / "plots").glob("*.png")} == {"latency-text.png", "latency-image.png",
                                                                   "throughput.png"}

    same = run_suite(tmp_path / "nightly-2", *args, f"--compare-to={reports / 'metrics.json'}")
    assert same.exit_code == 0, same.describe()
    assert same.cases()["test_no_regression_against_previous_run"].outcome == "passed"

    slower = run_suite(tmp_path / "nightly-3", *args, f"--compare-to={reports / 'metrics.json'}",
                       env={"SIM_FAULT_SLOW_DECODE_MS": "10"})
    case = slower.cases()["test_no_regression_against_previous_run"]
    assert case.outcome == "failed", slower.describe()
    assert "| test_load_meets_budgets[text] | mean_tpot_ms |" in case.message and "REGRESSION" in case.message
    assert "regressed beyond 50%" in slower.output


def test_a_load_without_throughput_baseline_warns_nightly_and_fails_sign_off(tmp_path: Path, port: int) -> None:
    """Ceilings alone do not gate throughput: release sign-off needs the baseline the profile lacks."""
    profile = tmp_path / "no-baseline.toml"
    profile.write_text('extends = "sim"\n[performance.bare]\norigin = "test: ceilings only"\nnum_prompts = 4\n'
                       'request_rate = "inf"\ninput_len = 16\noutput_len = 8\nmax_failed = 0\n')
    args = ("-k", "load_meets_budgets and bare", "--target", "sim", "--port", str(port), f"--profile={profile}")
    nightly = run_suite(tmp_path / "nightly", "-m", "performance", *args)
    assert nightly.exit_code == 0, nightly.describe()
    assert nightly.cases()["test_load_meets_budgets[bare]"].outcome == "passed", "the measured load was skipped"
    assert "has no throughput baseline for load bare" in nightly.output, nightly.describe()
    release = run_suite(tmp_path / "release", "-m", "release", *args)
    case = release.cases()["test_load_meets_budgets[bare]"]
    assert case.outcome == "failed", release.describe()
    assert "release sign-off needs it: profile no-baseline has no throughput baseline" in case.message
    assert "set [performance.bare] baseline_output_throughput from an accepted run" in case.message
