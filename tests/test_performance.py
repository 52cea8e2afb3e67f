"""Step 6 of the procedure: latency and throughput under load, against the profile's budgets.

Each load of the profile (text; with pictures, clips or both) runs through the suite's own load generator and
through `vllm bench serve` (its random dataset, random-mm for pictures, none for audio), and the text and image
loads through AISBench's perf mode (its synthetic dataset, textvqa's pictures); the results use
`vllm bench serve`'s metric names, the suite's saved as reports/perf-<load>.json. Every request's media are its
own, never sent before, so the encoders' cost is in every TTFT rather than served from vLLM's caches.
"""
from __future__ import annotations

import json
import secrets
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import pytest

from fixtures.outcomes import not_applicable
from phi4mm_acceptance.accuracy.aisbench import find_placement, run_tool
from phi4mm_acceptance.deployment.endpoint import Endpoint
from phi4mm_acceptance.deployment.profile import PerformanceSpec
from phi4mm_acceptance.deployment.settings import RunSettings
from phi4mm_acceptance.deployment.telemetry import sampler_for
from phi4mm_acceptance.performance.aisbench_perf import (
    DATASET_FOR_LOAD,
    failed_reasons,
    parse_perf,
    perf_run,
    perf_samples,
    tokenizer_for_tool,
)
from phi4mm_acceptance.performance.budgets import budgets_from_profile, missing_gates
from phi4mm_acceptance.performance.deadline import load_deadline_s
from phi4mm_acceptance.performance.loadgen import LoadShape, run_load
from phi4mm_acceptance.performance.metrics import latency_samples
from phi4mm_acceptance.performance.vllm_bench import (
    BenchRun,
    bench_command,
    bench_placement,
    bench_samples,
    run_vllm_bench,
)
from phi4mm_acceptance.protocol.media import load_manifest
from phi4mm_acceptance.report.progress import Progress
from phi4mm_acceptance.verdicts import TooSlow

pytestmark = [pytest.mark.performance, pytest.mark.nightly]
FIGURES = ("request_rate", "completed", "failed", "duration", "request_throughput", "output_throughput", "mean_ttft_ms",
           "p99_ttft_ms", "mean_tpot_ms", "p99_tpot_ms", "mean_itl_ms", "p99_itl_ms", "p99_e2el_ms",
           "total_input_tokens", "total_output_tokens")


def record_figures(results: dict[str, object], record_property: Callable[[str, object], None]) -> None:
    for key in FIGURES:
        value = results.get(key)
        record_property(key, round(value, 3) if isinstance(value, float) else value)


def judge_budgets(results: dict[str, object], load: PerformanceSpec, broken: list[str] = ()) -> None:
    """Nothing to judge (no request completed) or requests that broke vLLM's promise are serving broken;
    otherwise a budget missed is too slow, each with its metric, measured value, budget and origin."""
    verdicts = [budget.judge(results) for budget in budgets_from_profile(load.budgets, load.origin)]
    over = [v.message for v in verdicts if not v.passed]
    if not results.get("completed") or broken:
        empty = [f"no request of load {load.name} completed ({results.get('failed', 0)} failed)"]
        raise AssertionError("\n".join(empty * (not results.get("completed")) + over +
                                        [f"request errors: {list(broken)[:3]}"] * bool(broken)))
    if over:
        raise TooSlow(f"load {load.name}: " + "\n".join(over))


def require_every_gate(results: dict[str, object], load: PerformanceSpec, profile: str,
                       missing_prerequisite: Callable[..., None]) -> None:
    """A budget the profile lacks is a gate not run: a warning on nightly runs, a failure at sign-off."""
    missing = missing_gates(load.budgets)
    if missing:
        missing_prerequisite(f"profile {profile} has no {'; no '.join(missing)} [performance.{load.name}] "
                             f"(measured here: {results.get('failed', 0)} failed, output_throughput "
                             f"{results.get('output_throughput', 0):.1f} tokens/s)", warnings.warn)


def test_load_meets_budgets(server: Endpoint, settings: RunSettings, load: PerformanceSpec,
                            missing_prerequisite: Callable[..., None],
                            record_property: Callable[[str, object], None],
                            record_samples: Callable[[dict[str, list[float]]], None],
                            progress: Callable[[str, int, str], Progress], judges: Callable[[str], None],
                            artifact: Callable[[Path], Path]) -> None:
    judges(f"performance.{load.name}")
    shape = LoadShape.of(load, load_manifest().transcription_clips[0].path.read_bytes())
    sampler = sampler_for(settings.launch)
    with sampler or nullcontext():
        results, records = run_load(server, shape,
                                    timeout_s=load_deadline_s(load, settings.profile.chat.request_timeout_s),
                                    progress=progress(f"load {load.name}", load.num_prompts, "requests").update)
    telemetry = sampler.figures() if sampler else {}
    settings.report.reports_dir.mkdir(parents=True, exist_ok=True)
    detail = {"ttfts": [r.ttft_s for r in records if r.success], "itls": [g for r in records for g in r.itls_s]}
    artifact(settings.report.reports_dir / f"perf-{load.name}.json").write_text(
        json.dumps({**results, **telemetry, **detail}, indent=2) + "\n")
    record_figures(results, record_property)
    record_samples({f"{metric}_ms": values for metric, values in latency_samples(records).items()})
    for key, value in telemetry.items():
        record_property(key, value)
    changes = telemetry.get("health_changes")
    assert not changes, f"accelerator health changed during the load: {changes}"
    judge_budgets(results, load, sorted({r.error for r in records if r.error and not r.overloaded}))
    require_every_gate(results, load, settings.profile.name, missing_prerequisite)


def test_vllm_bench_serve_meets_budgets(server: Endpoint, settings: RunSettings, load: PerformanceSpec,
                                        missing_prerequisite: Callable[..., None],
                                        record_property: Callable[[str, object], None],
                                        record_samples: Callable[[dict[str, list[float]]], None],
                                        tool_heartbeat: Callable[..., Callable[[float], None]],
                                        judges: Callable[[str], None], artifact: Callable[[Path], Path]) -> None:
    """The users' reference tool on the same load and budgets (a load with images: its random-mm dataset)."""
    judges(f"performance.{load.name}")
    if load.clips:
        not_applicable("vllm bench serve's random datasets send no audio (random-mm: images only, vLLM 0.11-0.33)")
    results_dir = settings.report.reports_dir / "vllm-bench"
    placement = bench_placement(settings.tools, settings.launch, server, load.name, results_dir)
    if placement is None:
        pytest.skip("no `vllm` command for `vllm bench serve`: install vLLM here or pass --vllm-bench CMD")
    run = BenchRun(load.num_prompts, load.request_rate, load.input_len, load.output_len, load.max_concurrency,
                   load.images, load.image_px, secrets.randbelow(1 << 31))
    command = bench_command(placement.vllm, server, placement.tokenizer, run, placement.result_dir_seen_by_tool)
    log = artifact(results_dir / f"{load.name}.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    timeout_s = load_deadline_s(load, settings.profile.chat.request_timeout_s)
    results = run_vllm_bench(command, server, placement.result_dir, timeout_s, log, placement.container,
                             tool_heartbeat(f"vllm bench serve {load.name}", timeout_s))
    record_figures(results, record_property)
    record_samples(bench_samples(results))
    judge_budgets(results, load)
    require_every_gate(results, load, settings.profile.name, missing_prerequisite)


def test_aisbench_perf_meets_budgets(server: Endpoint, settings: RunSettings, aisbench_load: PerformanceSpec,
                                    missing_prerequisite: Callable[..., None],
                                    record_property: Callable[[str, object], None],
                                    record_samples: Callable[[dict[str, list[float]]], None],
                                    tool_heartbeat: Callable[..., Callable[[float], None]],
                                    artifact: Callable[[Path], Path]) -> None:
    """The seed's "Performance Evaluation: Using AISBench": its perf mode on the same load and budgets (the text
    load: its synthetic dataset; the image load: textvqa's pictures from the local datasets)."""
    load = aisbench_load
    placement = find_placement(settings.tools, settings.launch, server)
    if isinstance(placement, str):
        missing_prerequisite(placement)
    data = [settings.tools.aisbench_datasets / d.path for d in (settings.profile.accuracy.datasets
            if settings.profile.accuracy else ()) if d.config == DATASET_FOR_LOAD[load.name]]
    if data and not data[0].exists():
        missing_prerequisite(f"dataset {DATASET_FOR_LOAD[load.name]} is not on disk: {data[0]}")
    run = perf_run(load, server, tokenizer_for_tool(settings.tools, settings.launch, placement),
                   load_deadline_s(load, settings.profile.chat.request_timeout_s))
    out_dir = artifact(settings.report.reports_dir / "aisbench" / f"perf-{load.name}")
    run_tool(placement, run, server, out_dir,
             tool_heartbeat(f"AISBench perf {load.name}", run.timeout_s))
    results = parse_perf(out_dir)
    record_figures(results, record_property)
    record_samples(perf_samples(out_dir))
    judge_budgets(results, load, failed_reasons(out_dir) if results["failed"] else ())
    require_every_gate(results, load, settings.profile.name, missing_prerequisite)
