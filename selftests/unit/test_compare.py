"""--compare-to's judgement: direction from the metric's name, a relative tolerance and a latency noise floor."""
from __future__ import annotations

from phi4mm_acceptance.compare import compare, table
from phi4mm_acceptance.profile import RegressionSpec, load_profile

TEST = "tests/test_performance.py::test_load_meets_budgets[text]"


def figures(**values: float) -> dict[str, dict]:
    return {TEST: {"figures": values}}


def verdicts(before: dict, after: dict, limits: RegressionSpec) -> dict[str, bool]:
    return {c.metric: c.regressed for c in compare(figures(**before), figures(**after), limits)}


def test_latency_up_and_throughput_down_beyond_tolerance_regress() -> None:
    limits = RegressionSpec(tolerance=0.1)
    assert verdicts({"p99_ttft_ms": 100, "output_throughput": 1000, "completed": 48},
                    {"p99_ttft_ms": 115, "output_throughput": 850, "completed": 10}, limits) == {
        "p99_ttft_ms": True, "output_throughput": True}  # counts are not compared
    assert verdicts({"p99_ttft_ms": 100, "output_throughput": 1000},
                    {"p99_ttft_ms": 105, "output_throughput": 1200}, limits) == {
        "p99_ttft_ms": False, "output_throughput": False}


def test_small_absolute_latency_swings_stay_under_the_noise_floor() -> None:
    limits = load_profile("sim").regression
    assert limits.min_change_ms == 5 and limits.tolerance == 0.5
    assert verdicts({"p99_itl_ms": 4.4}, {"p99_itl_ms": 7.5}, limits) == {"p99_itl_ms": False}  # +69%, +3.1 ms
    assert verdicts({"mean_tpot_ms": 3.2}, {"mean_tpot_ms": 13.3}, limits) == {"mean_tpot_ms": True}
    changes = compare(figures(mean_tpot_ms=3.2), figures(mean_tpot_ms=13.3), limits)
    assert "| test_load_meets_budgets[text] | mean_tpot_ms | 3.20 | 13.30 | +315.6% | REGRESSION |" in table(changes)
