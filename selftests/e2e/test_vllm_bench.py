"""The vllm bench runner with the real `vllm bench serve` client (vLLM 0.33.0) against the simulator."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from selftests.suite_run import REPO, real_tool, run_suite

pytestmark = [pytest.mark.e2e, pytest.mark.quiet_machine]
CLIENT = REPO / ".venv-vllm-bench" / "bin" / "vllm"


@pytest.fixture(scope="module")
def vllm_client() -> Path:
    return real_tool(CLIENT)


@pytest.mark.parametrize(("fault", "outcome"), [({}, "passed"), ({"SIM_FAULT_SLOW_DECODE_MS": "10"}, "failed")],
                         ids=["healthy", "slow-decode"])
def test_real_vllm_bench_is_run_parsed_and_judged(tmp_path: Path, port: int, vllm_client: Path, fault: dict,
                                                   outcome: str) -> None:
    run = run_suite(tmp_path, "-m", "performance", "-k", "vllm_bench", "--target", "sim", "--port", str(port),
                    f"--vllm-bench={vllm_client}", env=fault)
    cases = run.cases()
    assert {load: cases[f"test_vllm_bench_serve_meets_budgets[{load}]"].outcome for load in ("text", "image")} == {
        "text": outcome, "image": outcome}, run.describe()  # the image load by vllm bench's random-mm dataset
    results = [json.loads(p.read_text()) for p in (tmp_path / "reports" / "vllm-bench").glob("*.json")]
    assert sorted(result["completed"] for result in results) == [20, 48]
    assert all(result["failed"] == 0 for result in results)
    case = cases["test_vllm_bench_serve_meets_budgets[text]"]
    if outcome == "failed":
        assert "mean_tpot_ms = " in case.message and "OVER BUDGET" in case.message
