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
