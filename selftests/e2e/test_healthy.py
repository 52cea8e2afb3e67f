"""A healthy simulator: the README's smoke command and the full suite under xdist pass and leave nothing."""
from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from xml.etree import ElementTree

import pytest

from phi4mm_acceptance.protocol.contract import load_contract
from selftests.detection_matrix import FUNCTIONAL
from selftests.suite_run import OLD_RELEASE_SKIPS, SIM_LOADS, SuiteRun, processes_on_port, run_suite

CONTRACT = load_contract()

pytestmark = pytest.mark.e2e
IDENTITY_PROPERTIES = {"target", "profile", "hardware", "model", "server_version"}
XDIST_SKIP = "performance is measured without xdist"
# What a healthy simulator run skips: the seed's own request without --network, and the media limits
SIM_SKIPS = {"test_seed_request[boardwalk]": "needs the server to reach the internet; run with --network"
             } | OLD_RELEASE_SKIPS


def skipped(run: SuiteRun) -> dict[str, str]:
    return {name: case.message for name, case in run.cases().items() if case.outcome == "skipped"}


def assert_skips(run: SuiteRun, expected: dict[str, str]) -> None:
    """Exactly these tests skipped, each for its reason: a gate that starts skipping turns this red."""
    found = skipped(run)
    assert set(found) == set(expected), f"skipped {sorted(found)}, expected {sorted(expected)}"
    wrong = {name: found[name][:200] for name, reason in expected.items() if reason not in found[name]}
    assert wrong == {}, f"skipped for another reason: {wrong}"


@contextmanager
def port_taken(number: int) -> Iterator[None]:
    """Something listening on the port (or, if something already does, that)."""
    with socket.socket() as sock:
        with suppress(OSError):
            sock.bind(("127.0.0.1", number))
            sock.listen()
        yield


def test_readme_smoke_command_passes_on_a_busy_machine_with_a_labelled_junit_and_metrics(tmp_path: Path) -> None:
    """The README's command A as written, with port 18000 (the simulator's old fixed port) taken: the suite
    picks a free port for the server it starts."""
    with port_taken(18000):
        run = run_suite(tmp_path, "-m", "smoke", "--target", "sim")
    assert run.exit_code == 0, run.describe()
    served = re.search(r"server: http://127\.0\.0\.1:(\d+)", run.output)
    assert served and served[1] != "18000", run.describe()
    assert re.search(r"verdict: PASSED: no failure; \d+ passed, \d+ not run of \d+ tests \(simulator run: proves "
                     r"the suite, certifies no hardware\)", run.output), run.describe()
    assert "hardware=SIMULATOR" in run.suite_name()
    assert_skips(run, SIM_SKIPS)
    cases = ElementTree.parse(run.junit).getroot().findall(".//testcase")
    assert len(cases) >= 30
    for case in cases:
        names = {p.get("name") for p in case.iter("property")}
        assert IDENTITY_PROPERTIES <= names, f"{case.get('name')} lacks {IDENTITY_PROPERTIES - names}"
        assert "[[ATTACHMENT|" in "".join(case.itertext()), f"{case.get('name')} has no server log attachment"
    metrics = json.loads((tmp_path / "reports" / "metrics.json").read_text())
    assert metrics["run"]["hardware"] == "simulator" and metrics["run"]["verdict"] == "passed"
    assert metrics["run"]["server_version"].endswith("+simulator")
    run_info = metrics["run"]  # what identifies the sign-off: in metrics.json, the JUnit suite and the report
    assert run_info["tier"] == "-m smoke" and run_info["command"].startswith("pytest ") and run_info["duration_s"] > 0
    assert set(run_info["versions"]) == {"vllm", "device", "image_digest", "snapshot", "vllm_ascend", "cann",
                                         "npu_driver", "npu_firmware"} and all(run_info["versions"].values())
    suite = {p.get("name"): p.get("value") for p in ElementTree.parse(run.junit).getroot().find("testsuite").iter(
        "property") if p.get("name") in ("tier", "command", "suite_version", "started_at", "cann")}
    assert suite["tier"] == "-m smoke" and suite["cann"].startswith("n/a: ") and len(suite) == 5, suite
    assert "run: -m smoke, suite 0.1.0" in (tmp_path / "reports" / "report.md").read_text()
    assert (tmp_path / "reports" / "server.log").read_text().count("Application startup complete.") == 1
    assert processes_on_port(int(served[1])) == []


@pytest.mark.parametrize("version", ["0.11.0", "0.17.0", "0.18.0", "0.25.0", "0.32.0", "0.34.0"])
def test_smoke_passes_on_each_claimed_vllm_release(tmp_path: Path, port: int, version: str) -> None:
    """The simulator claiming each release where vLLM's answers change (contract/vllm-requests.toml): the suite
    asks /version and expects that release's answers, so each passes; one judged by another's would not."""
    run = run_suite(tmp_path, "-m", "smoke", "--target", "sim", "--port", str(port),
                    env={"SIM_VLLM_VERSION": version})
    assert run.exit_code == 0, run.describe()
    assert f"version {version}+simulator" in run.output
    robustness = [case for name, case in run.cases().items() if name.startswith("test_odd_request_gets_vllms_answer_and_server_recovers")]
    assert len(robustness) >= 15 and all(case.outcome in ("passed", "skipped") for case in robustness)
    limits = {name.split("[")[1].rstrip("]"): case.outcome for name, case in run.cases().items() if "-limit]" in name}
    judged = {case: "skipped" if CONTRACT.answer(case, version)[0].status is None else "passed" for case in limits}
    assert len(limits) == 3 and limits == judged


def test_a_0_33_server_claiming_0_34_fails_on_exactly_what_0_34_changed(tmp_path: Path, port: int) -> None:
    """vLLM 0.34 answers a file:// URL with 400 (0.18-0.33: 500) and gives an `input_audio` part the `audio`
    --default-mm-loras adapter, naming it in the reply (0.33: none, the served name): a server that says 0.34
    but answers as 0.33 fails exactly those tests, and nothing else."""
    run = run_suite(tmp_path, "-m", "smoke", "--target", "sim", "--port", str(port),
                    env={"SIM_VLLM_VERSION": "0.34.0", "SIM_FAULT_BEHAVES_AS_MINOR": "33"})
    assert run.exit_code == 1, run.describe()
    failed = {name: case.message for name, case in run.cases().items() if case.outcome == "failed"}
    assert set(failed) == {"test_odd_request_gets_vllms_answer_and_server_recovers[local-file-url]",
                           "test_odd_request_gets_vllms_answer_and_server_recovers[input-audio-with-uuid]",
                           "test_odd_request_gets_vllms_answer_and_server_recovers[uuid-reference-input-audio]",
                           "test_media_uuid_names_its_item[input_audio]",
                           "test_audio_stream_matches_non_stream[input_audio]",
                           "test_image_and_audio_in_one_prompt[input_audio]",
                           *(f"test_audio_chat[asr-{clip}-input_audio]" for clip in ("fox", "harbour", "callback",
                                                                                     "server"))}, sorted(failed)
    assert "HTTP 500" in failed["test_odd_request_gets_vllms_answer_and_server_recovers[local-file-url]"]
    assert "expected 'audio'" in failed["test_audio_chat[asr-fox-input_audio]"]


def test_a_server_newer_than_the_releases_read_is_named_in_every_report(tmp_path: Path, port: int) -> None:
    """A server claiming 0.35 (newer than contract/vllm-releases.toml's newest_read) passes smoke judged by 0.34's
    answers, and every report says so; at release sign-off the verdict itself carries the warning."""
    words = "vLLM 0.35.0+simulator is newer than 0.34.0, the newest release this suite has read"
    smoke = run_suite(tmp_path / "smoke", "-m", "smoke", "--target", "sim", "--port", str(port),
                      env={"SIM_VLLM_VERSION": "0.35.0"})
    assert smoke.exit_code == 0, smoke.describe()
    reports = tmp_path / "smoke" / "reports"
    metrics = json.loads((reports / "metrics.json").read_text())["run"]
    junit = {p.get("name"): p.get("value") for p in ElementTree.parse(smoke.junit).getroot().iter("property")}
    assert f"warning: {words}" in smoke.output and words in (reports / "report.md").read_text()
    assert words in metrics["server_version_note"] and words in junit["server_version_note"]
    assert words not in metrics["verdict"]  # smoke: a warning beside the verdict, not in it
    release = run_suite(tmp_path / "release", "-m", "release", "-k", "bad-base64", "--target", "sim",
                        "--port", str(port), env={"SIM_VLLM_VERSION": "0.35.0"})
    verdict = json.loads((tmp_path / "release" / "reports" / "metrics.json").read_text())["run"]["verdict"]
    assert release.exit_code == 1 and f"(warning: {words}" in verdict, verdict


def test_the_claimed_vllm_0_16_fails_naming_its_http_200_error_bug(tmp_path: Path, port: int) -> None:
    """vLLM 0.15.0-0.16.0 answer an error raised in the chat handler (a media URL that fails) with HTTP 200 and
    the error body (contract/vllm-bugs.toml): the simulator claiming 0.16.0 does so, and exactly those requests
    fail, naming the bug and that this server's version has it."""
    run = run_suite(tmp_path, "-m", "smoke", "-k", "test_odd_request_gets_vllms_answer_and_server_recovers", "--target", "sim", "--port", str(port),
                    env={"SIM_VLLM_VERSION": "0.16.0"})
    assert run.exit_code == 1, run.describe()
    failed = {name for name, case in run.cases().items() if case.outcome == "failed"}
    fetches = ("unreachable-image-url", "missing-image-url", "media-server-error")
    assert failed == {f"test_odd_request_gets_vllms_answer_and_server_recovers[{case}]" for case in fetches}, failed
    for name in failed:
        assert "HTTP 200 carrying an error" in run.cases()[name].message
        assert "this server's vLLM 0.16.0+simulator has it: upgrade" in run.cases()[name].message


def test_full_suite_with_two_workers_shares_one_server(tmp_path: Path, port: int) -> None:
    run = run_suite(tmp_path, "-n", "2", "--target", "sim", "--port", str(port))
    assert run.exit_code == 0, run.describe()
    assert "2 workers" in run.output
    measured = {name for name in run.cases() if name.startswith((
        "test_single_request_latency", "test_load_meets_budgets", "test_vllm_bench_serve_meets_budgets",
        "test_aisbench_perf_meets_budgets", "test_capacity_under_slo"))}
    assert len(measured) == 3 + 2 * len(SIM_LOADS) + 2 + 1, sorted(measured)  # 3 latencies, each load through
    # the load generator and vllm bench, 2 AISBench perf, capacity
    assert_skips(run, SIM_SKIPS | dict.fromkeys(measured, XDIST_SKIP) | dict.fromkeys(
        ("test_no_regression_against_previous_run", "test_no_regression_against_accepted_baseline"),
        "this run's figures are collected on the controller") | {
        f"test_aisbench[{name}]": "no AISBench datasets root" for name in ("textvqa", "gsm8k", "vocalsound")})
    log = (tmp_path / "reports" / "server.log").read_text()
    assert log.count("Started server process") == 1, "each xdist worker started its own server"
    assert log.count("Shutting down") == 1
    assert processes_on_port(port) == []


def test_healthy_runs_repeated_ten_times_never_fail(tmp_path: Path, port: int) -> None:
    """No flaky test: the functional suite (the detection matrix's selection), run ten times on a healthy
    simulator, fails nothing."""
    failures = {}
    for attempt in range(10):
        run = run_suite(tmp_path / f"run-{attempt}", *FUNCTIONAL, "--target", "sim", "--port", str(port))
        failures |= {f"run {attempt}: {name}": case.message[:200] for name, case in run.not_passed().items()}
        assert run.cases() and run.exit_code in (0, 1), run.describe()
    assert failures == {}
    assert processes_on_port(port) == []
