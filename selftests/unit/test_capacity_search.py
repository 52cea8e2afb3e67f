"""The capacity search on a server whose p99 TTFT grows with concurrency: doubling, then bisection, finds the
knee within one request; a knee 20% below the accepted one fails, one within the runs' swing does not."""
from __future__ import annotations

import pytest

from phi4mm_acceptance.deployment.profile import CapacitySpec
from phi4mm_acceptance.performance.capacity import StepLoad, bounds, knee_too_low, search, search_deadline_s
from phi4mm_acceptance.performance.deadline import load_deadline_s

SPEC = CapacitySpec(load="mixed", max_concurrency=64, rounds=3, refine_steps=3, slo_p99_ttft_ms=300,
                    slo_p99_itl_ms=50, knee_tolerance=0.15, origin="unit")


def server(knee: float) -> tuple[list[int], object]:
    """p99 TTFT 100 ms at 1, reaching the 300 ms SLO at `knee` concurrent requests; the concurrencies asked."""
    asked: list[int] = []

    def measure(concurrency: int) -> dict[str, float]:
        asked.append(concurrency)
        return {"completed": 3 * concurrency, "failed": 0, "p99_itl_ms": 20.0,
                "p99_ttft_ms": 100 + 200 * (concurrency - 1) / (knee - 1)}
    return asked, measure


@pytest.mark.parametrize(("true_knee", "found", "asked"), [
    (20.5, 20, [1, 2, 4, 8, 16, 32, 24, 20, 22]),
    (16.4, 16, [1, 2, 4, 8, 16, 32, 24, 20, 18]),
    (100, 64, [1, 2, 4, 8, 16, 32, 64]),  # every step held: the knee is at least the bound
])
def test_doubling_then_bisection_finds_the_knee(true_knee: float, found: int, asked: list[int]) -> None:
    concurrencies, measure = server(true_knee)
    steps = search(measure, SPEC)
    assert bounds(steps)[0] == found and concurrencies == asked


@pytest.mark.parametrize("true_knee", [1.5, 3.5, 20.5, 33, 63.5, 100])
def test_the_search_deadline_covers_every_step_it_takes_and_no_more(true_knee: float) -> None:
    """pytest-timeout's bound of the capacity gate: the steps' own load deadlines, summed over the longest
    search (the doubling to the bound, then every bisection), so a step's tool deadline fires first."""
    concurrencies, measure = server(true_knee)
    search(measure, SPEC)
    taken = sum(load_deadline_s(StepLoad.at(SPEC, concurrency), 120) for concurrency in concurrencies)
    assert taken <= search_deadline_s(SPEC, 120) <= (7 + 3) * load_deadline_s(StepLoad.at(SPEC, 64), 120)


def test_a_failed_request_misses_the_slo_and_one_at_a_time_missing_is_knee_zero() -> None:
    steps = search(lambda c: {"completed": 2, "failed": 1, "p99_ttft_ms": 10.0, "p99_itl_ms": 1.0}, SPEC)
    assert bounds(steps) == (0, 1) and steps[0].missed == ("1 failed, 2 completed",)


@pytest.mark.parametrize(("knee", "accepted", "fails"), [
    (16, [20, 20], True),      # 20% lower: beyond the 15% tolerance
    (18, [20, 20], False),     # 10% lower
    (16, [18, 22], False),     # the accepted runs swung 20%: within it
    (14, [18, 22], True),
])
def test_a_knee_is_judged_against_the_accepted_runs(knee: int, accepted: list[float], fails: bool) -> None:
    assert bool(knee_too_low(knee, accepted, 0.15)) is fails
