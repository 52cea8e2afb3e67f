"""The capacity search and its knee gate, end to end at NPU-like timing (TTFT 100 ms, TPOT 10 ms, +5% a
concurrent request): a baseline accepted from two healthy runs, a third healthy run whose knee holds, and a
server whose latency grows twice as fast with concurrency (its knee about half) failing the gate."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from selftests.suite_run import REPO, healthy_baseline, run_suite

pytestmark = [pytest.mark.e2e, pytest.mark.quiet_machine]  # the knee is where latency meets the SLO
TEST = "test_capacity_under_slo"
NPU_LIKE = f"""extends = "{REPO / 'profiles' / 'sim.toml'}"
[serve]
env = {{ SIM_LOAD_DELAY_S = "0.5", SIM_TTFT_MS = "100", SIM_TPOT_MS = "10" }}
[capacity]
origin = "self-test: measured 2026-12-06 on a busy 2-core machine, p99 TTFT 104-107 ms at 1, 147-155 at 8, 190-206 at 16, 284-291 at 32 concurrent"
load = "text"
max_concurrency = 32
rounds = 4
refine_steps = 2
slo_p99_ttft_ms = 240
slo_p99_itl_ms = 1000
knee_tolerance = 0.15
"""


def test_a_knee_that_falls_below_the_accepted_one_fails(tmp_path: Path, port: int) -> None:
    profile = tmp_path / "npu-like.toml"
    profile.write_text(NPU_LIKE)
    args = ("-m", "performance", "-k", "capacity", "--target", "sim", "--port", str(port), f"--profile={profile}")
    baseline, _ = healthy_baseline(tmp_path, *args)
    knees = json.loads(baseline.read_text())["tests"][f"tests/test_capacity.py::{TEST}"]["spread"]["knee_concurrency"]
    assert all(16 <= knee < 32 for knee in knees), knees  # beyond the doubling steps: the bisection found it
    healthy = run_suite(tmp_path / "healthy", *args, f"--baseline={baseline}")
    assert healthy.cases()[TEST].outcome == "passed", healthy.describe()
    assert (tmp_path / "healthy" / "reports" / "plots" / "capacity.png").is_file()
    steeper = run_suite(tmp_path / "steeper", *args, f"--baseline={baseline}", env={"SIM_CONCURRENCY_SLOWDOWN": "0.1"})
    case = steeper.cases()[TEST]
    assert case.outcome == "failed" and case.properties["failure_kind"] == "too slow", steeper.describe()
    assert "below the accepted baseline's" in case.message and "p99_ttft_ms" in case.message, case.message
