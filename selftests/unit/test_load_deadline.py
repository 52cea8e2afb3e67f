"""How long a load's tool may run: past every healthy run, but minutes, not the hours a hung tool once took."""
from __future__ import annotations

import pytest

from fixtures.collection import TIMEOUT_MARGIN_S, gate_deadline_s
from phi4mm_acceptance.deployment.endpoint import Endpoint
from phi4mm_acceptance.deployment.profile_files import load_profile
from phi4mm_acceptance.performance.aisbench_perf import DATASET_FOR_LOAD, perf_run
from phi4mm_acceptance.performance.deadline import TOOL_START_S, load_deadline_s
from phi4mm_acceptance.performance.loadgen import LoadShape


@pytest.mark.parametrize(("shape", "waited_s"), [
    (LoadShape(num_prompts=200, input_len=1, output_len=1, request_rate=1.0), 200 + 120),  # the seed's load
    (LoadShape(num_prompts=200, input_len=1, output_len=1, max_concurrency=32), 7 * 120),  # 7 waves of 32
    (LoadShape(num_prompts=16, input_len=1, output_len=1), 120)],  # all at once: one wave
    ids=["poisson-200-at-1rps", "200-at-concurrency-32", "16-at-once"])
def test_a_load_may_take_its_arrivals_and_a_request_timeout_per_wave(shape: LoadShape, waited_s: float) -> None:
    assert load_deadline_s(shape, request_timeout_s=120) == TOOL_START_S + waited_s


def test_an_aisbench_perf_test_outlives_its_tool_run_twice() -> None:
    """pytest-timeout must not cut the retry of a hung AISBench perf run (its message is the clearer one)."""
    profile = load_profile("atlas-800i-a2")
    for load in (load for load in profile.performance if load.name in DATASET_FOR_LOAD):
        run = perf_run(load, Endpoint.at("http://npu:8000", "phi4mm"), "/tokenizer",
                       load_deadline_s(load, profile.chat.request_timeout_s))
        assert gate_deadline_s(profile, {"aisbench_load": load}) >= run.timeout_s * (1 + run.hang_retries)
        assert gate_deadline_s(profile, {"load": load}) + TIMEOUT_MARGIN_S > load_deadline_s(load, profile.chat.request_timeout_s)
