"""Step 6 of the procedure, at the scale a deployment is bought for: how many requests at once it serves within
its SLOs. The profile's [capacity] load runs at doubling concurrency, then bisected, until its p99 TTFT or p99 ITL
misses the SLO or a request fails; the knee (the highest concurrency that held) is plotted
(reports/plots/capacity.png), every step kept (reports/capacity.json), and the knee judged against the accepted
baseline's: more than the profile's tolerance below it is too slow.
"""
from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from phi4mm_acceptance.deployment.endpoint import Endpoint
from phi4mm_acceptance.deployment.profile import CapacitySpec
from phi4mm_acceptance.deployment.settings import RunSettings
from phi4mm_acceptance.performance.baseline import BaselineError, load_baseline
from phi4mm_acceptance.performance.capacity import StepLoad, bounds, capacity_plot, knee_too_low, search
from phi4mm_acceptance.performance.deadline import load_deadline_s
from phi4mm_acceptance.performance.loadgen import LoadShape, run_load
from phi4mm_acceptance.protocol.media import load_manifest
from phi4mm_acceptance.verdicts import TooSlow

pytestmark = [pytest.mark.performance, pytest.mark.nightly]


def test_capacity_under_slo(request: pytest.FixtureRequest, server: Endpoint, settings: RunSettings,
                            capacity: CapacitySpec, missing_prerequisite: Callable[..., None],
                            record_property: Callable[[str, object], None],
                            artifact: Callable[[Path], Path]) -> None:
    spec = capacity
    load = next(load for load in settings.profile.performance if load.name == spec.load)
    speech = load_manifest().transcription_clips[0].path.read_bytes()

    def measure(concurrency: int) -> dict[str, object]:
        step = StepLoad.at(spec, concurrency)
        shape = LoadShape.of(load, speech, num_prompts=step.num_prompts, max_concurrency=step.max_concurrency,
                             request_rate=step.request_rate)
        return run_load(server, shape, timeout_s=load_deadline_s(shape, settings.profile.chat.request_timeout_s))[0]

    steps = search(measure, spec)
    knee, missed = bounds(steps)
    settings.report.reports_dir.mkdir(parents=True, exist_ok=True)
    artifact(settings.report.reports_dir / "capacity.json").write_text(json.dumps(
        {"load": spec.load, "knee": knee, "first_missed": missed,
         "steps": [{"concurrency": s.concurrency, "missed": list(s.missed), **s.results} for s in steps]},
        indent=2, default=str) + "\n")
    capacity_plot(steps, spec, knee, settings.report.reports_dir / "plots")
    at_knee = next((s.results for s in steps if s.concurrency == knee), {})
    record_property("knee_concurrency", knee)
    record_property("knee_tokens_per_s", round(float(at_knee.get("output_throughput", 0.0)), 3))
    record_property("capacity_steps", " ".join(f"{s.concurrency}{'' if s.met else '!'}" for s in steps))
    if knee == 0:
        raise TooSlow(f"load {spec.load} misses its SLOs even one request at a time: {'; '.join(steps[0].missed)} "
                      f"({spec.origin})")
    accepted = accepted_knees(settings, request.node.nodeid, missing_prerequisite)
    problem = knee_too_low(knee, accepted, spec.knee_tolerance) if accepted else ""
    if problem:
        why = next((f"; at {s.concurrency} concurrent: {'; '.join(s.missed)}" for s in steps if not s.met), "")
        raise TooSlow(f"load {spec.load}: {problem}{why}")


def accepted_knees(settings: RunSettings, test: str, missing_prerequisite: Callable[..., None]) -> list[float]:
    """The accepted runs' knees, from the baseline; without them the knee is listed, not judged (a warning on
    nightly, a gate not run at release)."""
    path = settings.report.baseline
    try:
        entry = load_baseline(path)["tests"].get(test) if path is not None and path.is_file() else None
    except BaselineError as exc:
        raise AssertionError(str(exc)) from None
    knees = ((entry or {}).get("spread") or {}).get("knee_concurrency")
    if not knees:
        missing_prerequisite(f"no accepted knee to judge this one against ({path or '--baseline none'} "
                             f"{'holds none' if path is not None and path.is_file() else 'does not exist'}): accept "
                             "a baseline with phi4mm-accept-baseline", warnings.warn)
        return []
    return [float(k) for k in knees]
