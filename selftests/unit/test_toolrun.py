"""External tools run guarded: a timeout kills the tool and everything it started; its output is kept."""
from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import pytest

from phi4mm_acceptance.accuracy.aisbench import AisbenchError, AisbenchHang, AisbenchRun, host_placement, run_tool
from phi4mm_acceptance.deployment.endpoint import Endpoint
from phi4mm_acceptance.deployment.launch.process import pid_alive
from phi4mm_acceptance.performance.vllm_bench import VllmBenchError, run_vllm_bench
from phi4mm_acceptance.toolrun import InContainer, output_tail, run_in_group

NOWHERE = Endpoint.at("http://127.0.0.1:1", "m")  # a tool run that never reaches a server


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = f"sleep 30 & echo $! > {pids}; echo started; sleep 30"
    began = time.monotonic()
    assert run_in_group(["sh", "-c", script], tmp_path / "tool.log", timeout_s=1) is None
    assert time.monotonic() - began < 10
    child = int(pids.read_text())
    deadline = time.monotonic() + 5
    while pid_alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(child), "the tool's background child survived the timeout"
    assert "started" in output_tail(tmp_path / "tool.log")


def test_exit_code_and_secret_free_tail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_SecretInToolOutput123")
    assert run_in_group(["sh", "-c", "echo token is $HF_TOKEN; exit 3"], tmp_path / "tool.log", 10,
                        env=dict(os.environ)) == 3
    assert output_tail(tmp_path / "tool.log") == "; output ends: token is ***"


def test_vllm_bench_timeout_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(VllmBenchError, match=r"vllm bench serve did not finish in 1 s; output ends: waiting"):
        run_vllm_bench(["sh", "-c", "echo waiting; sleep 30"], NOWHERE, tmp_path / "out", 1, tmp_path / "bench.log")


@pytest.mark.parametrize(("api_key", "seen"), [(None, "0"), ("sk-RunKey-0123", "14")], ids=["no-key", "run-key"])
def test_vllm_bench_gets_the_run_s_api_key_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                api_key: str | None, seen: str) -> None:
    """A key this shell holds for something else (OPENAI_API_KEY) is never sent to the server under test."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-UsersOwnOpenAiKey-0123456789")
    with pytest.raises(VllmBenchError, match=rf"output ends: key length {seen}$"):
        run_vllm_bench(["sh", "-c", "echo key length ${#OPENAI_API_KEY}; exit 1"],
                       Endpoint.at("http://127.0.0.1:1", "m", api_key), tmp_path / "out", 10, tmp_path / "bench.log")


@pytest.mark.parametrize(("script", "killed_inside"), [("sleep 30", True), ("exit 0", False)],
                         ids=["timeout", "finished"])
def test_a_tool_run_by_docker_exec_is_killed_inside_its_container_too(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str, killed_inside: bool) -> None:
    """Killing `docker exec` leaves the tool running in the container: on a timeout it is killed there."""
    calls = tmp_path / "docker-calls"
    fake_docker = tmp_path / "bin" / "docker"
    fake_docker.parent.mkdir()
    fake_docker.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    fake_docker.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_docker.parent}:{os.environ['PATH']}")
    run_in_group(["sh", "-c", script], tmp_path / "tool.log", 1, inside=InContainer("serving-1", "vllm bench"))
    expected = "exec serving-1 pkill -KILL -f vllm bench\n" if killed_inside else None
    assert (calls.read_text() if calls.exists() else None) == expected


@pytest.mark.parametrize(("hangs", "retries", "outcome"), [
    (1, 1, "ran again"), (2, 1, "did not finish"), (1, 0, "did not finish")],
    ids=["hang-once-retried", "hang-twice", "hang-without-retries"])
def test_an_aisbench_run_killed_at_its_deadline_runs_once_more_and_says_so(tmp_path: Path, hangs: int,
                                                                             retries: int, outcome: str) -> None:
    """AISBench now and then hangs for good (its issues #205, #407): a perf run killed at its deadline runs once
    more, with a warning naming the hang; killed twice (or with no retry) it is an error naming the deadline."""
    calls = tmp_path / "calls"
    tool = tmp_path / "ais_bench"
    tool.write_text(f"#!/bin/sh\necho call >> {calls}\necho working\n"
                    f'[ "$(wc -l < {calls})" -le {hangs} ] && exec sleep 30\nexit 0\n')
    tool.chmod(0o755)
    run = AisbenchRun("perf-text", "synthetic", "perf", {}, timeout_s=1, hang_retries=retries)
    placement = host_placement([str(tool)], tmp_path / "datasets")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        if outcome == "ran again":
            run_tool(placement, run, NOWHERE, tmp_path / "out")
        else:
            with pytest.raises(AisbenchError, match=r"AISBench did not finish perf-text in 1 s \(killed\); output "
                                                    r"ends: working"):
                run_tool(placement, run, NOWHERE, tmp_path / "out")
    hang_warnings = [str(w.message) for w in seen if issubclass(w.category, AisbenchHang)]
    assert len(calls.read_text().splitlines()) == retries + 1
    assert len(hang_warnings) == retries and all("running it once more" in w and "#205" in w for w in hang_warnings)
