"""Release sign-off (`-m release`) cannot pass by accident: a complete sign-off on the simulator passes and its
report lists every gate; the same sign-off with any one gate removed says FAILED and names the gate.

A gate removed is a tool, a baseline, a profile table or the quiet machine the gate needs: on a nightly run
it is a skip (or a warning), at sign-off a failure of kind "gate not run". Skips of what the deployment does
not offer (no internet for the server, no audio in vllm bench's random datasets) stay skips, listed.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from selftests.aisbench_data import write_tiny_datasets
from selftests.suite_run import OLD_RELEASE_SKIPS, REPO, SIM_LOADS, SuiteRun, accept_baseline, real_tool, run_suite

pytestmark = pytest.mark.e2e
AISBENCH = REPO / ".venv-aisbench" / "bin" / "ais_bench"
VLLM_BENCH = REPO / ".venv-vllm-bench" / "bin" / "vllm"
NOT_APPLICABLE = OLD_RELEASE_SKIPS | {  # the only tests a complete sign-off on the simulator skips, and why
    f"test_vllm_bench_serve_meets_budgets[{load}]": "vllm bench serve's random datasets send no audio"
    for load in (load.name for load in SIM_LOADS if load.clips)}
WITHOUT_THE_INTERNET = "--sign-off-without=test_seed_request*"  # the simulator cannot fetch the seed's public image


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_datasets(tmp_path_factory.mktemp("aisbench-datasets"))


def tools(datasets: Path) -> tuple[str, ...]:
    return (f"--aisbench={real_tool(AISBENCH)}", f"--aisbench-datasets={datasets}",
            f"--vllm-bench={real_tool(VLLM_BENCH)}")


def profile_without_accuracy(tmp_path: Path) -> Path:
    text = (REPO / "profiles" / "sim.toml").read_text()
    path = tmp_path / "sim-no-accuracy.toml"
    path.write_text(re.sub(r"\n\[accuracy\].*?(?=\n\[regression\])", "\n", text, flags=re.S))
    return path


@pytest.mark.quiet_machine
@pytest.mark.timeout(1200)  # 250-300 s measured: a nightly and a sign-off, each with AISBench and vllm bench
def test_complete_sign_off_passes_and_the_report_lists_every_gate(tmp_path: Path, port: int,
                                                                  datasets: Path) -> None:
    target = ("--target", "sim", "--port", str(port))
    previous = run_suite(tmp_path / "previous", "-m", "performance", *target, *tools(datasets))  # as a nightly:
    # release sign-off judges every figure the previous run had the tools to measure (vllm bench serve's too)
    assert previous.exit_code == 0, previous.describe()
    nightly = tmp_path / "previous" / "reports" / "metrics.json"
    baseline = tmp_path / "baseline.json"  # accepted from that nightly, as Jenkins' last healthy ones would be
    accept_baseline(baseline, nightly)
    run = run_suite(tmp_path / "sign-off", "-m", "release", *target, *tools(datasets), WITHOUT_THE_INTERNET,
                    f"--compare-to={nightly}", f"--baseline={baseline}", timeout_s=900)
    assert run.exit_code == 0, run.describe()
    assert ("verdict: PASSED (PARTIAL SIGN-OFF: 1 LEFT OUT ON PURPOSE (--SIGN-OFF-WITHOUT)): no failure; "
            in run.output and "(simulator run" in run.output), run.describe()
    cases = run.cases()
    skipped = {name: case.message for name, case in cases.items() if case.outcome == "skipped"}
    assert set(skipped) == set(NOT_APPLICABLE), skipped
    for name, reason in NOT_APPLICABLE.items():
        assert reason in skipped[name]
    report = (tmp_path / "sign-off" / "reports" / "report.md").read_text()
    rows = [line for line in report.splitlines() if line.startswith("| tests/")]
    assert len(rows) == len(cases) + 1 and all(f"::{name} |" in report for name in cases)  # + the one left out
    assert sum("| pass |" in row for row in rows) == len(cases) - len(NOT_APPLICABLE)
    metrics = json.loads((tmp_path / "sign-off" / "reports" / "metrics.json").read_text())
    assert metrics["tests"]["tests/test_chat.py::test_seed_request[boardwalk]"]["reason"] == (
        "left out of this sign-off by the release owner (--sign-off-without)")


def assert_gates_not_run(run: SuiteRun, expected: dict[str, str]) -> None:
    assert run.exit_code == 1, run.describe()
    assert re.search(r"verdict: FAILED.*?: (\d+ [a-z ]+, )*\d+ gate not run; ", run.output), run.describe()  # counted
    cases = run.cases()
    for name, words in expected.items():
        case = cases[name]
        assert case.outcome == "failed" and case.properties.get("failure_kind") == "gate not run", (  # F, not E
            f"{name}: {case.outcome} {case.properties.get('failure_kind')}: {case.message[:300]}")
        assert f"release sign-off needs it: {words}" in case.message, case.message
        assert f"gate not run: {name}: release sign-off needs it: {words}" in run.output


PERFORMANCE = ("test_single_request_latency[text]", "test_single_request_latency[one-image]",
               "test_single_request_latency[several-images]",
               *(f"{test}[{load}]" for test in ("test_load_meets_budgets", "test_vllm_bench_serve_meets_budgets")
                 for load in (load.name for load in SIM_LOADS)), "test_capacity_under_slo",
               "test_aisbench_perf_meets_budgets[text]", "test_aisbench_perf_meets_budgets[image]")


@pytest.mark.parametrize(("removed", "args", "expected"), [
    ("quiet-machine", ("-m", "release and performance", "-n", "2"),
     dict.fromkeys(PERFORMANCE, "performance is measured without xdist") | {
         "test_no_regression_against_previous_run": "this run's figures are collected on the controller",
         "test_no_regression_against_accepted_baseline": "this run's figures are collected on the controller"}),
    ("vllm-bench", ("-m", "release", "-k", "vllm_bench_serve and text", "--vllm-bench="),
     {"test_vllm_bench_serve_meets_budgets[text]": "no `vllm` command for `vllm bench serve`"}),
    ("compare-to", ("-m", "release", "-k", "previous_run"),
     {"test_no_regression_against_previous_run": "no previous run to compare with: pass --compare-to"}),
    ("baseline", ("-m", "release", "-k", "accepted_baseline"),
     {"test_no_regression_against_accepted_baseline": "no accepted baseline at "}),
    ("aisbench", ("-m", "release", "-k", "aisbench and gsm8k", "--aisbench="),
     {"test_aisbench[gsm8k]": "no `ais_bench` command"}),
    ("accuracy-table", ("-m", "release", "-k", "(aisbench and not perf) or canary", "--profile=NO-ACCURACY"),
     {"test_aisbench[no-datasets]": "profile 'sim-no-accuracy' has no AISBench datasets",
      "test_image_canary": "profile 'sim-no-accuracy' has no [accuracy] table",
      "test_audio_canary": "profile 'sim-no-accuracy' has no [accuracy] table"}),
    ("network", ("-m", "release", "-k", "seed_request"),
     {"test_seed_request[boardwalk]": 'needs the server to reach the internet; run with --network, or leave it out '
                                      'with --sign-off-without "test_seed_request*"'}),
], ids=["quiet-machine", "vllm-bench", "compare-to", "baseline", "aisbench", "accuracy-table", "network"])
def test_sign_off_with_a_gate_removed_fails_and_names_it(tmp_path: Path, port: int, datasets: Path, removed: str,
                                                         args: tuple[str, ...], expected: dict[str, str]) -> None:
    every_tool = [a for a in tools(datasets) if not any(a.startswith(b) and b.endswith("=") for b in args)]
    args = tuple(f"--profile={profile_without_accuracy(tmp_path)}" if a == "--profile=NO-ACCURACY" else a
                 for a in args if not a.endswith("="))
    run = run_suite(tmp_path / removed, *args, *every_tool, "--target", "sim", "--port", str(port), timeout_s=600)
    assert_gates_not_run(run, expected)
    assert set(run.not_passed()) == {*expected, "every_gate_selected"}, sorted(run.not_passed())  # -k / -m left out


@pytest.mark.parametrize(("route", "args", "paths", "named"), [
    ("keyword", ("-k", "test_health"), ("tests/test_startup.py",), "test_version"),
    ("marker", ("-m", "release and not accuracy"), ("tests/test_startup.py", "tests/test_accuracy.py"),
     "test_image_canary"),
    ("deselect", ("--deselect", "tests/test_startup.py::test_version"), ("tests/test_startup.py",), "test_version"),
    ("path", (), ("tests/test_startup.py",), "test_chat.py (not collected)"),
    ("ignore", ("--ignore", str(REPO / "tests" / "test_chat.py")), ("tests",), "test_chat.py (not collected)"),
    ("node-id", (), ("tests/test_startup.py::test_health",), "tests/test_startup.py::test_health (only part of"),
], ids=["keyword", "marker", "deselect", "path", "ignore", "node-id"])
def test_a_gate_left_out_by_any_route_fails_the_sign_off(tmp_path: Path, port: int, route: str, args: tuple[str, ...],
                                                         paths: tuple[str, ...], named: str) -> None:
    """Left out by -k, -m, --deselect, a path, --ignore or a node id: the sign-off fails (exit 1, "partial
    sign-off"), naming what was left out; named by --sign-off-without it does not. Collected only (the
    selection is all that is judged), but for the path route, which runs."""
    where = tuple(str(REPO / path) for path in paths)
    marker = () if route == "marker" else ("-m", "release")
    only_collect = () if route == "path" else ("--collect-only",)
    run = run_suite(tmp_path / route, *marker, *args, *only_collect, "--target", "sim", "--port", str(port),
                    paths=where)
    assert run.exit_code == 1 and "PARTIAL SIGN-OFF" in run.output, run.describe()
    assert named in run.output, run.describe()
    case = run.cases()["every_gate_selected"]
    assert case.outcome == "failed" and case.properties["failure_kind"] == "gate not run" and named in case.message
    if route in ("keyword", "path"):  # the release owner names what is left out: tests, or whole files
        excused = run_suite(tmp_path / "excused", *marker, *args, "--collect-only", "--target", "sim", "--port",
                            str(port), "--sign-off-without=test_[!h]*", paths=where)
        assert excused.exit_code == 0 and "every_gate_selected" not in excused.cases(), excused.describe()
        assert "LEFT OUT ON PURPOSE" in excused.output
