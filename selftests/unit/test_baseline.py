"""The accepted baseline: healthy runs merged (median figure, every run's value, pooled samples, origin), refused
when a run did not pass, and judged with each figure's run-to-run swing as its noise floor."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from phi4mm_acceptance.deployment.profile import RegressionSpec
from phi4mm_acceptance.performance.accept import main
from phi4mm_acceptance.performance.baseline import (
    AcceptedRun,
    BaselineError,
    against_baseline,
    load_baseline,
    merge_runs,
)

TEXT = "tests/test_performance.py::test_load_meets_budgets[text]"
LIMITS = RegressionSpec(tolerance=0.03, min_change_ms=1, min_samples=5, alpha=0.01)


def tpots(centre: float, seed: int, n: int = 200) -> list[float]:
    rng = random.Random(seed)
    return [centre * (1 + rng.uniform(-0.05, 0.05)) for _ in range(n)]


def run(tpot: float, seed: int, verdict: str = "passed", outcome: str = "passed",
        profile: str = "atlas-800i-a2") -> dict:
    samples = tpots(tpot, seed)
    return {"run": {"verdict": verdict, "profile": profile, "hardware": "atlas-800i-a2", "target": "docker",
                    "image": "quay.io/ascend/vllm-ascend:v0.23.0", "vllm_ascend": "0.23.0", "server_version": "0.23.0",
                    "suite_version": "0.1.0+gabc"},
            "tests": {TEXT: {"outcome": outcome, "figures": {"mean_tpot_ms": sum(samples) / len(samples),
                                                             "completed": 200, "output_throughput": 1000.0 + seed,
                                                             "request_rate": "inf"},
                             "samples": {"tpot_ms": samples}}}}


def accepted(*runs: dict) -> list[AcceptedRun]:
    return [AcceptedRun(Path(f"run-{number}/metrics.json"), data) for number, data in enumerate(runs, 1)]


def test_merged_runs_keep_the_median_every_runs_value_and_all_samples() -> None:
    baseline = merge_runs(accepted(run(10, 1), run(10.4, 2), run(10.2, 3)), {"host": "atlas-01"})
    entry = baseline["tests"][TEXT]
    assert entry["figures"]["output_throughput"] == 1002.0 and entry["figures"]["completed"] == 200
    assert entry["spread"]["output_throughput"] == [1001.0, 1002.0, 1003.0]
    assert len(entry["samples"]["tpot_ms"]) == 600
    assert entry["spread"]["completed"] == [200, 200, 200]
    assert baseline["origin"]["host"] == "atlas-01" and baseline["origin"]["vllm_ascend"] == "0.23.0"
    assert baseline["origin"]["image"] == "quay.io/ascend/vllm-ascend:v0.23.0"


@pytest.mark.parametrize(("runs", "problem"), [
    ((run(10, 1), run(10, 2, verdict="failed")), "run-2/metrics.json: verdict failed"),
    ((run(10, 1), run(10, 2, profile="cuda")), "different profiles or hardware"),
    ((run(10, 1, outcome="failed"), run(10, 2)), "share no passed test"),
], ids=["a-run-failed", "two-deployments", "a-test-failed"])
def test_only_healthy_runs_of_one_deployment_are_accepted(runs: tuple[dict, ...], problem: str) -> None:
    with pytest.raises(BaselineError, match=problem):
        merge_runs(accepted(*runs), {})


@pytest.mark.parametrize(("slower_by", "swing", "verdict"), [
    (0.15, 0.0, "REGRESSION"),  # +15% TPOT at 10 ms: 1.5 ms, beyond the 1 ms floor
    (0.15, 0.4, "REGRESSION"),  # the accepted runs swung 0.4 ms: 3 sigma = 3 x 0.4 / 1.128 = 1.06 ms, below 1.5
    (0.15, 0.6, "ok"),          # they swung 0.6 ms: 3 sigma = 1.6 ms, and 1.5 ms is within the runs' noise
], ids=["no-swing", "small-swing", "swing-beyond-the-change"])
def test_a_latency_must_move_beyond_the_accepted_runs_noise(slower_by: float, swing: float, verdict: str) -> None:
    baseline = merge_runs(accepted(run(10, 1), run(10 + swing, 2)), {})
    now = tpots(10 * (1 + slower_by) + swing / 2, 7)
    figures = {TEXT: {"figures": {"mean_tpot_ms": sum(now) / len(now)}}}
    comparison = against_baseline(baseline, figures, {TEXT: {"tpot_ms": now}}, LIMITS)
    assert [c.verdict for c in comparison.changes] == [verdict]


def test_a_throughput_is_judged_with_its_relative_noise() -> None:
    baseline = merge_runs(accepted(run(10, 1), run(10, 10), run(10, 13)), {})  # 1001, 1010, 1013: 3 sigma = 2.1%
    for now, verdict in ((985.0, "ok"), (975.0, "REGRESSION")):  # median 1010: -2.5% is within 3%, -3.5% is not
        figures = {TEXT: {"figures": {"output_throughput": now, "completed": 200, "request_rate": "inf"}}}
        assert [c.verdict for c in against_baseline(baseline, figures, {}, LIMITS).changes] == [verdict]


def test_a_figure_the_baseline_lacks_is_named() -> None:
    baseline = merge_runs(accepted(run(10, 1), run(10, 2)), {})
    image = TEXT.replace("[text]", "[image]")
    figures = {image: {"figures": {"mean_tpot_ms": 12.0}}}
    comparison = against_baseline(baseline, figures, {image: {"tpot_ms": tpots(12, 3)}}, LIMITS)
    assert "test_load_meets_budgets[image] mean_tpot_ms: not measured in the accepted baseline" in comparison.unjudged


def test_the_command_merges_runs_already_made_and_refuses_an_unhealthy_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = []
    for number, data in enumerate((run(10, 1), run(10.1, 2), run(10, 3, verdict="failed")), 1):
        paths.append(tmp_path / f"nightly-{number}" / "metrics.json")
        paths[-1].parent.mkdir()
        paths[-1].write_text(json.dumps(data))
    out = tmp_path / "baseline.json"
    assert main(["--from", *map(str, paths[:2]), "--out", str(out)]) == 0
    baseline = load_baseline(out)
    assert baseline["origin"]["runs"] == [str(p) for p in paths[:2]] and baseline["origin"]["accepted_at"]
    assert main(["--from", *map(str, paths), "--out", str(tmp_path / "refused.json")]) == 1
    assert "verdict failed; no baseline written" in capsys.readouterr().err
    assert not (tmp_path / "refused.json").exists()
    with pytest.raises(SystemExit):
        main(["--runs", "1", "--", "--target=sim"])
