"""Capacity under SLO: the highest concurrency at which a load still meets the profile's SLOs (p99 TTFT, p99 ITL,
no failed request), searched in bounded steps, and its knee judged against the accepted baseline's.

No peer gates capacity (vLLM's and vllm-ascend's nightlies report throughput at fixed shapes), so the search is
ours: concurrency doubles from 1 until a step misses the SLOs or reaches the bound, then a few bisections between
the last step that met them and the first that missed narrow the knee. Latency grows with concurrency, so the knee
is the highest concurrency that met the SLOs below the lowest one that missed (a noisy step met above a missed one
does not raise it).
"""
from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phi4mm_acceptance.deployment.profile import CapacitySpec
from phi4mm_acceptance.performance.deadline import load_deadline_s


@dataclass(frozen=True)
class StepLoad:
    """One step's load: `rounds` requests a slot, all sent at once, at most `concurrency` in flight."""

    num_prompts: int
    max_concurrency: int
    request_rate: float = float("inf")

    @classmethod
    def at(cls, spec: CapacitySpec, concurrency: int) -> StepLoad:
        return cls(spec.rounds * concurrency, concurrency)


def search_deadline_s(spec: CapacitySpec, request_timeout_s: float) -> float:
    """The longest the search may run: every step it can take (doubling from 1 to the bound, then each
    bisection, below the bound), each at its own load's deadline."""
    doubled = [1]
    while doubled[-1] < spec.max_concurrency:
        doubled.append(min(doubled[-1] * 2, spec.max_concurrency))
    step_s = [load_deadline_s(StepLoad.at(spec, concurrency), request_timeout_s) for concurrency in doubled]
    return sum(step_s) + spec.refine_steps * max(step_s)


@dataclass(frozen=True)
class Step:
    concurrency: int
    results: dict[str, Any]
    missed: tuple[str, ...]  # the SLOs this step missed, each with its measured value

    @property
    def met(self) -> bool:
        return not self.missed


def slo_misses(results: dict[str, Any], spec: CapacitySpec) -> tuple[str, ...]:
    misses = []
    if results.get("failed") or not results.get("completed"):
        misses.append(f"{results.get('failed', 0)} failed, {results.get('completed', 0)} completed")
    for metric, limit in (("p99_ttft_ms", spec.slo_p99_ttft_ms), ("p99_itl_ms", spec.slo_p99_itl_ms)):
        value = results.get(metric)
        if not isinstance(value, (int, float)) or value > limit:
            misses.append(f"{metric} {value if not isinstance(value, float) else round(value, 1)} > {limit:g}")
    return tuple(misses)


def search(measure: Callable[[int], dict[str, Any]], spec: CapacitySpec) -> list[Step]:
    """The steps taken, in order: doubling, then bisection. `measure(concurrency)` runs the load at it."""
    def step(concurrency: int) -> Step:
        results = measure(concurrency)
        return Step(concurrency, results, slo_misses(results, spec))

    steps = [step(1)]
    while steps[-1].met and steps[-1].concurrency < spec.max_concurrency:
        steps.append(step(min(steps[-1].concurrency * 2, spec.max_concurrency)))
    for _ in range(spec.refine_steps):
        low, high = bounds(steps)
        if high is None or high - low <= 1:
            break
        steps.append(step((low + high) // 2))
    return steps


def bounds(steps: list[Step]) -> tuple[int, int | None]:
    """The knee (highest met concurrency below the lowest missed one; 0 when even 1 missed) and that lowest
    missed concurrency (None: every step met the SLOs, the knee is at least the bound)."""
    missed = min((s.concurrency for s in steps if not s.met), default=None)
    met = [s.concurrency for s in steps if s.met and (missed is None or s.concurrency < missed)]
    return max(met, default=0), missed


def knee_too_low(knee: int, accepted: list[float], tolerance: float) -> str:
    """Why the knee falls too far below the accepted runs' (their median less the larger of `tolerance` and
    their relative swing); empty when it does not."""
    middle = statistics.median(accepted)
    allowed = max(tolerance, (max(accepted) - min(accepted)) / middle if middle else 0.0)
    if knee >= middle * (1 - allowed):
        return ""
    return (f"capacity knee {knee} concurrent requests is {1 - knee / middle:.0%} below the accepted baseline's "
            f"{middle:g} (runs {', '.join(f'{v:g}' for v in accepted)}; allowed {allowed:.0%} lower)")


def capacity_plot(steps: list[Step], spec: CapacitySpec, knee: int, out: Path) -> Path:
    """p99 TTFT and p99 ITL against concurrency, each with its SLO, and the knee."""
    from phi4mm_acceptance.report.release import pyplot

    out.mkdir(parents=True, exist_ok=True)
    plt = pyplot()
    ordered = sorted(steps, key=lambda s: s.concurrency)
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, metric, limit, label in ((axes[0], "p99_ttft_ms", spec.slo_p99_ttft_ms, "p99 TTFT (ms)"),
                                     (axes[1], "p99_itl_ms", spec.slo_p99_itl_ms, "p99 ITL (ms)")):
        ax.plot([s.concurrency for s in ordered], [s.results.get(metric, 0) for s in ordered], marker="o",
                color="#0969da")
        ax.axhline(limit, color="#cf222e", linestyle="--", label=f"SLO {limit:g} ms")
        if knee:
            ax.axvline(knee, color="#1a7f37", label=f"knee {knee}")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrent requests")
        ax.set_ylabel(label)
        ax.legend()
    figure.suptitle(f"capacity of load '{spec.load}' under its SLOs")
    figure.tight_layout()
    path = out / "capacity.png"
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path
