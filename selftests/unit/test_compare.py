"""--compare-to's judgement: direction from the metric's name, enough samples behind a figure, a relative
tolerance, a latency noise floor, and a shift of the whole distribution (Mann-Whitney U)."""
from __future__ import annotations

import random

import pytest

from phi4mm_acceptance.deployment.profile import RegressionSpec
from phi4mm_acceptance.deployment.profile_files import load_profile
from phi4mm_acceptance.performance.compare import Comparison, compare, one_sided, table
from phi4mm_acceptance.performance.metrics import percentile

TEST = "tests/test_performance.py::test_load_meets_budgets[text]"


def figures(**values: float) -> dict[str, dict]:
    return {TEST: {"figures": values}}


def samples(**values: list[float]) -> dict[str, dict[str, list[float]]]:
    return {TEST: values}


def noisy(centre: float, n: int, seed: int, spread: float = 0.05) -> list[float]:
    rng = random.Random(seed)
    return [centre * (1 + rng.uniform(-spread, spread)) for _ in range(n)]


def verdicts(before: dict, after: dict, limits: RegressionSpec, before_samples: dict | None = None,
             after_samples: dict | None = None) -> dict[str, str]:
    return {c.metric: c.verdict for c in compare(figures(**before), figures(**after), limits,
                                                 before_samples, after_samples)}


def test_throughput_down_beyond_tolerance_regresses_when_enough_requests_measured_it() -> None:
    limits = RegressionSpec(tolerance=0.1)
    assert verdicts({"output_throughput": 1000, "completed": 48}, {"output_throughput": 850, "completed": 48},
                    limits) == {"output_throughput": "REGRESSION"}  # counts are not compared
    assert verdicts({"output_throughput": 1000, "completed": 48}, {"output_throughput": 1200, "completed": 48},
                    limits) == {"output_throughput": "ok"}
    assert verdicts({"output_throughput": 1000, "completed": 3}, {"output_throughput": 500, "completed": 3},
                    limits) == {"output_throughput": "not judged: fewer than 5 samples"}


def test_a_single_shot_latency_is_listed_never_judged() -> None:
    """A chat test's one latency_ms (no samples behind it) swings run to run: it may not fail a nightly."""
    changes = compare({"t": {"figures": {"latency_ms": 20.0}}}, {"t": {"figures": {"latency_ms": 80.0}}},
                      RegressionSpec(tolerance=0.03, min_change_ms=5))
    assert [(c.judged, c.regressed) for c in changes] == [(False, False)]
    assert ("| t | latency_ms | 20.00 (0) | 80.00 (0) | +300.0% | - | not judged: a single-shot latency: listed, never "
            "judged |") in table(changes)
    assert Comparison(changes, []).unjudged == []  # by design: nothing is missing


def test_a_shifted_distribution_regresses_and_a_noisy_tail_does_not() -> None:
    limits = RegressionSpec(tolerance=0.03, min_change_ms=5, min_samples=5, alpha=0.01)
    before = noisy(100, 200, seed=1)
    slower = [v * 1.2 for v in noisy(100, 200, seed=2)]
    assert verdicts({"mean_ttft_ms": 100, "p99_ttft_ms": 105}, {"mean_ttft_ms": 120, "p99_ttft_ms": 126}, limits,
                    samples(ttft_ms=before), samples(ttft_ms=slower)) == {"mean_ttft_ms": "REGRESSION",
                                                                          "p99_ttft_ms": "REGRESSION"}
    one_slow_tail = noisy(100, 200, seed=3)[:-2] + [160.0, 170.0]  # p99 +50%, the distribution where it was
    assert verdicts({"p99_ttft_ms": 105}, {"p99_ttft_ms": 158}, limits, samples(ttft_ms=before),
                    samples(ttft_ms=one_slow_tail)) == {"p99_ttft_ms": "ok"}


def test_small_absolute_latency_swings_stay_under_the_noise_floor() -> None:
    limits = load_profile("sim").regression
    assert limits.floor_ms("p99_itl_ms") == 25 and limits.floor_ms("mean_itl_ms") == 5 and limits.tolerance == 0.5
    itl_before = noisy(4.1, 1488, seed=4)
    for swing_ms in (3.4, 11.2):  # two healthy CI runs' p99 ITL: 4.1 -> 7.5 ms, 4.08 -> 15.30 ms (stop 38)
        itl_after = [v + swing_ms for v in noisy(4.1, 1488, seed=5)]
        assert verdicts({"p99_itl_ms": 4.1}, {"p99_itl_ms": 4.1 + swing_ms}, limits, samples(itl_ms=itl_before),
                        samples(itl_ms=itl_after)) == {"p99_itl_ms": "ok"}, swing_ms
    tpot_before, tpot_after = noisy(3.2, 40, seed=6), noisy(13.3, 40, seed=7)
    changes = compare(figures(mean_tpot_ms=3.2), figures(mean_tpot_ms=13.3), limits, samples(tpot_ms=tpot_before),
                      samples(tpot_ms=tpot_after))
    assert "| test_load_meets_budgets[text] | mean_tpot_ms | 3.20 (40) | 13.30 (40) | +315.6% |" in table(changes)
    assert changes[0].regressed


def test_every_hardware_profile_has_a_noise_floor_with_its_origin() -> None:
    for name in ("atlas-800i-a2", "atlas-800i-a2-lora", "atlas-800-a3", "atlas-800-a3-lora", "cuda", "external"):
        limits = load_profile(name).regression
        floors = [limits.floor_ms(f"{metric}_ms") for metric in ("ttft", "tpot", "itl", "e2el", "latency")]
        assert min(floors) > 0 and limits.min_samples >= 5 and "noise floor" in limits.origin, name


def test_a_20_percent_tpot_regression_at_25_ms_trips_the_hardware_gate() -> None:
    """One 5 ms floor for every latency hid it: 25 -> 30 ms is +5 ms, not beyond 5."""
    limits = load_profile("atlas-800i-a2-lora").regression
    before, after = noisy(25, 200, seed=8, spread=0.02), noisy(30, 200, seed=9, spread=0.02)
    assert verdicts({"mean_tpot_ms": 25}, {"mean_tpot_ms": 30}, limits, samples(tpot_ms=before),
                    samples(tpot_ms=after)) == {"mean_tpot_ms": "REGRESSION"}


def test_a_tail_only_regression_trips_the_p99_and_not_the_mean() -> None:
    """3% of inter-token gaps 50 ms late (a periodic stall) at a 20 ms ITL: the body of the distribution stays,
    so a test of the whole distribution sees nothing; the p99's exceedance test does."""
    limits = load_profile("atlas-800i-a2-lora").regression
    before = noisy(20, 2000, seed=10, spread=0.1)
    after = [v + 50 if i % 33 == 0 else v for i, v in enumerate(noisy(20, 2000, seed=11, spread=0.1))]
    figures_before = {"mean_itl_ms": sum(before) / len(before), "p99_itl_ms": percentile(before, 99)}
    figures_after = {"mean_itl_ms": sum(after) / len(after), "p99_itl_ms": percentile(after, 99)}
    assert verdicts(figures_before, figures_after, limits, samples(itl_ms=before),
                    samples(itl_ms=after)) == {"mean_itl_ms": "ok", "p99_itl_ms": "REGRESSION"}


@pytest.mark.parametrize("delay_ms", [1.5, 5, 11])
def test_a_tail_of_token_gaps_the_host_delayed_is_no_hardware_regression(delay_ms: float) -> None:
    """3% of 3000 token gaps late by what a busy host's scheduler adds (CI, healthy runs minutes apart: p99 ITL
    13.69 -> 15.03 ms at a 10 ms TPOT, 4.08 -> 15.30 at 2 ms) moves the p99 of token gaps, within its floor."""
    limits = load_profile("atlas-800i-a2-lora").regression
    before = noisy(10, 3000, seed=12, spread=0.05)
    after = [v + delay_ms if i % 33 == 0 else v for i, v in enumerate(noisy(10, 3000, seed=13, spread=0.05))]
    assert verdicts({"mean_itl_ms": 10, "p99_itl_ms": percentile(before, 99)},
                    {"mean_itl_ms": 10, "p99_itl_ms": percentile(after, 99)}, limits, samples(itl_ms=before),
                    samples(itl_ms=after)) == {"mean_itl_ms": "ok", "p99_itl_ms": "ok"}


def test_a_tail_of_3_percent_of_requests_50_percent_slower_trips_the_p99_against_a_pooled_baseline() -> None:
    """6 of 200 requests +50% at a 100 ms TTFT (issue 29's tail row): the body stays (the mean is no regression),
    the p99's exceedance test catches it against a baseline that pools two accepted runs. One previous run of
    200 cannot show it at p < 0.01 whatever the tail's size: 6 of 200 past its p99 against 0 of 200 is p = 0.015
    at best (Fisher's exact test), so the accepted baseline is the gate for a 3% tail."""
    limits = load_profile("atlas-800i-a2-lora").regression
    after = [v * 1.5 if i % 33 == 16 else v for i, v in enumerate(noisy(100, 200, seed=30))]
    for runs, expected in ((1, "ok"), (2, "REGRESSION")):
        before = [v for run in range(runs) for v in noisy(100, 200, seed=20 + run)]
        assert verdicts({"mean_ttft_ms": sum(before) / len(before), "p99_ttft_ms": percentile(before, 99)},
                        {"mean_ttft_ms": sum(after) / len(after), "p99_ttft_ms": percentile(after, 99)}, limits,
                        samples(ttft_ms=before), samples(ttft_ms=after)) == {"mean_ttft_ms": "ok",
                                                                             "p99_ttft_ms": expected}, runs


def test_a_tail_that_grew_within_the_allowance_is_no_regression() -> None:
    """The samples are judged against what the profile allows, as the figure is: on a 2-core CPU profile
    (tolerance 200%, floor 500 ms) a healthy run's picture requests queued behind each other, 6 of 16 past the
    previous p99 (the release run against its nightly in CI, 101 -> 352 ms), is noise there."""
    limits = load_profile("vllm-cpu-tiny-image").regression
    before = noisy(70, 16, seed=12, spread=0.4)
    after = noisy(70, 10, seed=13, spread=0.4) + [200.0, 240.0, 280.0, 300.0, 330.0, 352.0]
    changes = compare(figures(p99_ttft_ms=percentile(before, 99)), figures(p99_ttft_ms=percentile(after, 99)),
                      limits, samples(ttft_ms=before), samples(ttft_ms=after))
    assert [c.verdict for c in changes] == ["ok"] and changes[0].p_value == 1.0


def test_an_arrival_bound_throughput_is_listed_not_judged() -> None:
    limits = RegressionSpec(tolerance=0.03)
    assert verdicts({"output_throughput": 128, "completed": 200, "request_rate": 1},
                    {"output_throughput": 100, "completed": 200, "request_rate": 1}, limits) == {
        "output_throughput": "not judged: throughput bound by the arrivals (1 requests/s); TPOT and ITL show a "
                             "slower server"}


def test_a_load_whose_previous_samples_are_missing_is_named_not_judged() -> None:
    """The Jenkins layout before samples were kept inside metrics.json: the previous run's figures without the
    samples behind them. Every latency figure of the load is named as not judged, none silently passes."""
    limits = RegressionSpec(tolerance=0.03, min_samples=5)
    changes = compare(figures(mean_ttft_ms=100, p99_ttft_ms=110), figures(mean_ttft_ms=130, p99_ttft_ms=140), limits,
                      {}, samples(ttft_ms=noisy(130, 50, seed=3)))
    assert [c.judged for c in changes] == [False, False]
    assert Comparison(changes, []).unjudged == [
        f"test_load_meets_budgets[text] {metric}: fewer than 5 samples (before 0, after 50)"
        for metric in ("mean_ttft_ms", "p99_ttft_ms")]


def test_a_figure_only_one_run_measured_is_named_where_it_would_be_judged() -> None:
    limits = RegressionSpec(tolerance=0.03, min_samples=5)
    other = "tests/test_performance.py::test_load_meets_budgets[image]"
    before = {TEST: {"figures": {"mean_tpot_ms": 20, "latency_ms": 900}}}
    after = {other: {"figures": {"mean_tpot_ms": 20, "output_throughput": 900, "completed": 64}}}
    assert one_sided(before, after, limits, samples(tpot_ms=noisy(20, 50, seed=4)),
                     {other: {"tpot_ms": noisy(20, 50, seed=5)}}) == [
        "test_load_meets_budgets[image] mean_tpot_ms: not measured in the previous run",
        "test_load_meets_budgets[image] output_throughput: not measured in the previous run",
        "test_load_meets_budgets[text] mean_tpot_ms: measured in the previous run, not in this one"]  # not latency_ms
