"""Accuracy end to end with the real AISBench (ais-bench-benchmark 3.1) against the simulator.

Tiny datasets in AISBench's formats (selftests/aisbench_data.py) make each dataset run take ~30 s. The
healthy simulator passes every gate; its accuracy knob, its no-LoRA mode, HTTP 500s and a server that dies
make the right test fail with the measured score, n and threshold (or the cause) in the message.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from selftests.aisbench_data import write_tiny_datasets
from selftests.suite_run import REPO, SuiteRun, live_processes, processes_on_port, real_tool, run_suite

pytestmark = pytest.mark.e2e
TOOL = REPO / ".venv-aisbench" / "bin" / "ais_bench"


@pytest.fixture(scope="module")
def tool() -> Path:
    return real_tool(TOOL)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_datasets(tmp_path_factory.mktemp("aisbench-datasets"))


def accuracy_run(workdir: Path, port: int, tool: Path, datasets: Path, *args: str,
                 env: dict[str, str] | None = None) -> SuiteRun:
    return run_suite(workdir, "--target", "sim", "--port", str(port), f"--aisbench={tool}",
                     f"--aisbench-datasets={datasets}", *args, env=env, timeout_s=600)


def aisbench_processes(datasets: Path) -> list[str]:
    """Live AISBench processes on these datasets (the suite names them in AISBench's environment), not this
    pytest, whose arguments may mention it, nor another test's AISBench on the other xdist worker."""
    mine = [p.command_line for p in live_processes()
            if p.environ().get(b"AIS_BENCH_DATASETS_CACHE") == bytes(datasets)]
    return [command for command in mine if "ais_bench" in command and "pytest" not in command]


def test_healthy_simulator_passes_every_accuracy_gate(tmp_path: Path, port: int, tool: Path, datasets: Path) -> None:
    run = accuracy_run(tmp_path, port, tool, datasets, "-m", "accuracy")
    assert run.exit_code == 0, run.describe()
    cases = run.cases()
    assert {name: case.outcome for name, case in cases.items()} == {
        "test_image_canary": "passed", "test_audio_canary": "passed", "test_aisbench[textvqa]": "passed",
        "test_aisbench[gsm8k]": "passed", "test_aisbench[vocalsound]": "passed",
        "test_vision_lora_is_applied_when_named": "passed"}
    figures = json.loads((tmp_path / "reports" / "metrics.json").read_text())["tests"]
    textvqa = figures["tests/test_accuracy.py::test_aisbench[textvqa]"]["figures"]
    assert textvqa["score"] == 100.0 and textvqa["samples"] == 28 and textvqa["failed_requests"] == 0
    assert textvqa["floor"] == 75.0 and textvqa["wilson_lower_bound"] == pytest.approx(87.94, abs=0.01)
    assert figures["tests/test_accuracy.py::test_image_canary"]["figures"]["canary_image_accuracy"] == 1.0
    assert sorted((tmp_path / "reports" / "aisbench" / "gsm8k" / "run" / "summary").glob("summary_*.csv"))
    assert processes_on_port(port) == [] and aisbench_processes(datasets) == []


@pytest.mark.parametrize(("env", "args", "expected"), [
    ({"SIM_FAULT_WRONG_ANSWERS_PCT": "50"}, ("-k", "aisbench and gsm8k"),
     {"test_aisbench[gsm8k]": ["outside the band 100 +- 10", "95% Wilson lower bound", "at n=6 is below the floor 50"]}),
    ({}, ("--profile", "sim-no-lora", "-k", "canary or textvqa or vocalsound"),
     {"test_image_canary": ["is below the profile's 90%", "lacks the vision LoRA"],
      "test_audio_canary": ["is above the profile's 5%", "lacks the speech LoRA"],
      "test_aisbench[textvqa]": ["outside the band", "lacks the vision LoRA"],
      "test_aisbench[vocalsound]": ["outside the band", "lacks the speech LoRA"]}),
    ({"SIM_FAULT_HTTP500_EVERY": "4"}, ("-k", "aisbench and gsm8k"),
     {"test_aisbench[gsm8k]": ["requests failed (Internal Server Error"]}),
    ({"SIM_FAULT_DIE_AFTER": "2"}, ("-k", "aisbench and gsm8k"),
     {"test_aisbench[gsm8k]": ["requests failed (After 2 retries", "Cannot connect to host"]}),
], ids=["wrong-answers", "no-lora", "http500", "server-dies"])
def test_accuracy_faults_fail_the_right_gate(tmp_path: Path, port: int, tool: Path, datasets: Path,
                                             env: dict[str, str], args: tuple[str, ...],
                                             expected: dict[str, list[str]]) -> None:
    run = accuracy_run(tmp_path, port, tool, datasets, "-m", "accuracy", *args, env=env)
    assert run.exit_code == 1, run.describe()
    failed = run.not_passed()
    assert set(failed) == set(expected), run.describe()
    for name, words in expected.items():
        missing = [w for w in words if w not in failed[name].message]
        assert not missing, f"{name} message lacks {missing}: {failed[name].message}"
    assert processes_on_port(port) == [] and aisbench_processes(datasets) == []


def test_missing_dataset_skips_nightly_and_fails_release(tmp_path: Path, port: int, tool: Path) -> None:
    empty = tmp_path / "no-datasets"
    empty.mkdir()
    nightly = accuracy_run(tmp_path / "nightly", port, tool, empty, "-m", "nightly", "-k", "aisbench and not perf")
    assert nightly.exit_code == 0, nightly.describe()
    skipped = nightly.cases()["test_aisbench[textvqa]"]
    assert skipped.outcome == "skipped" and f"{empty}/ais_bench/datasets/textvqa" in skipped.message
    release = accuracy_run(tmp_path / "release", port, tool, empty, "-m", "release", "-k", "aisbench and not perf")
    assert release.exit_code == 1
    aisbench = {name: case for name, case in release.cases().items() if name != "every_gate_selected"}  # -k
    assert aisbench and all(case.outcome == "failed" and "release sign-off needs it: dataset" in case.message
                            for case in aisbench.values()), release.describe()


def test_a_gate_longer_than_the_default_timeout_is_not_cut(tmp_path: Path, port: int, tool: Path,
                                                             datasets: Path) -> None:
    """pytest's default timeout (here 5 s; pytest.ini's 600 s on hardware) does not cut an AISBench dataset
    that runs longer: its timeout is the profile's timeout_s plus a margin."""
    run = accuracy_run(tmp_path, port, tool, datasets, "-m", "accuracy", "-k", "aisbench and gsm8k", "--timeout", "5")
    case = run.cases()["test_aisbench[gsm8k]"]
    assert case.outcome == "passed", run.describe()
    duration = json.loads((tmp_path / "reports" / "metrics.json").read_text())["tests"][
        "tests/test_accuracy.py::test_aisbench[gsm8k]"]["duration_s"]
    assert duration > 5, f"the dataset ran {duration:.1f} s: too short to prove anything"


def test_aisbench_timeout_kills_the_tool(tmp_path: Path, port: int, tool: Path, datasets: Path) -> None:
    profile = tmp_path / "quick.toml"
    profile.write_text(f'extends = "{REPO}/profiles/sim.toml"\n\n[accuracy.aisbench]\ntimeout_s = 3\n')
    run = accuracy_run(tmp_path, port, tool, datasets, "-m", "accuracy", "-k", "aisbench and gsm8k",
                       f"--profile={profile}")
    assert "AISBench did not finish gsm8k in 3 s (killed)" in run.cases()["test_aisbench[gsm8k]"].message
    assert aisbench_processes(datasets) == []


@pytest.mark.quiet_machine
@pytest.mark.parametrize(("fault", "kind", "words"), [
    ({"SIM_FAULT_SLOW_DECODE_MS": "10"}, "too slow", "mean_tpot_ms = "),
    ({"SIM_FAULT_HTTP500_EVERY": "4"}, "serving broken", "request errors: ['Internal Server Error']"),
], ids=["slow-decode", "http500"])
def test_aisbench_perf_mode_fails_a_slow_or_broken_server(tmp_path: Path, port: int, tool: Path, datasets: Path,
                                                           fault: dict[str, str], kind: str, words: str) -> None:
    """The seed's AISBench performance step with the real tool: its figures and per-request samples under the
    suite's names for a healthy server (reports/aisbench/perf-text), its budget missed for a slow decode, its
    failed requests named for HTTP 500s."""
    args = ("-m", "performance", "-k", "aisbench_perf and text")
    healthy = accuracy_run(tmp_path / "healthy", port, tool, datasets, *args)
    assert healthy.exit_code == 0, healthy.describe()
    entry = json.loads((tmp_path / "healthy" / "reports" / "metrics.json").read_text())["tests"][
        "tests/test_performance.py::test_aisbench_perf_meets_budgets[text]"]
    assert entry["figures"]["completed"] == 48 and len(entry["samples"]["ttft_ms"]) == 48
    assert list((tmp_path / "healthy" / "reports" / "aisbench" / "perf-text" / "run").glob("performances/*/*.csv"))
    faulty = accuracy_run(tmp_path / "faulty", port, tool, datasets, *args, env=fault)
    case = faulty.cases()["test_aisbench_perf_meets_budgets[text]"]
    assert case.outcome == "failed" and case.properties["failure_kind"] == kind and words in case.message, \
        faulty.describe()
    assert aisbench_processes(datasets) == []
