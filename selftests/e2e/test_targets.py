"""Targets and options end to end: external servers, --keep-server, --target process, and bad input.

Bad input must give a one-line error, still write the JUnit file, and leave no process behind.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from phi4mm_acceptance.protocol.client import probe_health
from selftests.suite_run import OLD_RELEASE_SKIPS, REPO, processes_on_port, run_suite

pytestmark = pytest.mark.e2e
VLLM_SHIM = REPO / "simulator" / "bin" / "vllm"
ADAPTERS = REPO / "simulator" / "fake_model"
LORA_ARGS = ("--enable-lora", "--max-lora-rank", "320", "--lora-modules", f"vision={ADAPTERS}/vision-lora",
             f"speech={ADAPTERS}/speech-lora", "--default-mm-loras",
             json.dumps({"image": f"{ADAPTERS}/vision-lora", "audio": f"{ADAPTERS}/speech-lora"}))
MODEL = "microsoft/Phi-4-multimodal-instruct"


def start_by_hand(tmp_path: Path, port: int, limits: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    """The simulator started by hand, as an operator would before using --target external."""
    log = tmp_path / "hand-started.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(VLLM_SHIM), "serve", MODEL, "--host", "127.0.0.1", "--port", str(port),
             "--max-model-len", "8192", "--limit-mm-per-prompt", limits, *LORA_ARGS,
             "--mm-processor-cache-gb", "0.1"],  # the sim profile's serve arguments, as its memory soak reads them
            stdout=out, stderr=subprocess.STDOUT, env={"SIM_LOAD_DELAY_S": "0.2", "PATH": "/usr/bin:/bin"})
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while probe_health(base_url) != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    return process, base_url, log


@pytest.fixture
def hand_started_server(tmp_path: Path, port: int) -> Iterator[tuple[str, Path]]:
    process, base_url, log = start_by_hand(tmp_path, port, '{"image":3,"audio":1}')
    yield base_url, log
    process.terminate()
    process.wait(10)


def test_a_modality_the_server_refuses_is_said_once_and_its_tests_skip(tmp_path: Path, port: int) -> None:
    """The sim profile claims audio; the server was started with audio = 0 ("At most 0 audio(s)"): one test
    fails, saying so plainly; every audio test is not applicable, none fails."""
    process, base_url, _ = start_by_hand(tmp_path, port, '{"image":3,"audio":0}')
    try:
        run = run_suite(tmp_path / "run", "-m", "smoke", "-k", "audio or takes_the_media", "--target", "external",
                        "--profile", "sim", "--base-url", base_url)
    finally:
        process.terminate()
        process.wait(10)
    assert run.exit_code == 1, run.describe()
    assert set(run.not_passed()) == {"test_server_takes_the_media_the_profile_claims[audio]"}, run.describe()
    message = run.cases()["test_server_takes_the_media_the_profile_claims[audio]"].message
    assert "profile 'sim' claims audio (limit_mm_per_prompt audio = 1), but the server serves none" in message
    assert "At most 0 audio(s)" in message
    skipped = {name: case.message for name, case in run.cases().items() if case.outcome == "skipped"}
    assert len(skipped) >= 10 and all("the server serves no audio" in message for name, message in skipped.items()
                                      if name not in OLD_RELEASE_SKIPS), skipped


def test_external_target_passes_and_leaves_the_server_running(tmp_path: Path,
                                                              hand_started_server: tuple[str, Path]) -> None:
    base_url, log = hand_started_server
    run = run_suite(tmp_path / "run", "--target", "external", "--profile", "sim", "--base-url", base_url,
                    "--server-log", str(log))
    assert run.exit_code == 0, run.describe()
    assert "target=external" in run.suite_name()
    assert probe_health(base_url) == 200, "the suite stopped a server it did not start"


def test_external_target_without_log_skips_only_the_log_checks(tmp_path: Path,
                                                              hand_started_server: tuple[str, Path]) -> None:
    base_url, _ = hand_started_server
    run = run_suite(tmp_path, "-m", "smoke", "--target", "external", "--profile", "sim", "--base-url", base_url)
    assert run.exit_code == 0, run.describe()
    skipped = {name for name, case in run.cases().items() if case.outcome == "skipped"}
    assert {"test_startup_lines_in_order", "test_startup_log_has_no_errors"} <= skipped


def test_dead_external_server_is_one_setup_problem_reported_quickly(tmp_path: Path, port: int) -> None:
    started = time.monotonic()
    run = run_suite(tmp_path, "-m", "smoke", "--target", "external", "--base-url", f"http://127.0.0.1:{port}")
    run.assert_deployment_failed_once(f"no server answers at http://127.0.0.1:{port}", "setup problem")
    assert time.monotonic() - started < 60


def test_keep_server_is_reused_then_cleaned_up(tmp_path: Path, port: int) -> None:
    args = ("-m", "smoke", "-k", "health", "--target", "sim", "--port", str(port))
    first = run_suite(tmp_path, *args, "--keep-server")
    assert first.exit_code == 0, first.describe()
    state = json.loads((tmp_path / ".phi4mm" / "kept-server.json").read_text())
    pid = state["server"]["pid"]
    assert "left the server running" in first.output and processes_on_port(port)

    second = run_suite(tmp_path, *args, "--keep-server")
    assert second.exit_code == 0, second.describe()
    assert f"reusing the server kept by an earlier run (pid {pid})" in second.output

    third = run_suite(tmp_path, *args)
    assert third.exit_code == 0, third.describe()
    assert "reusing" in third.output
    assert processes_on_port(port) == []
    assert not (tmp_path / ".phi4mm" / "kept-server.json").exists()


def write_profile(path: Path, command: list[str]) -> Path:
    text = (REPO / "profiles" / "sim.toml").read_text().replace('command = ["vllm", "serve"]', f"command = {json.dumps(command)}")
    path.write_text(text)
    return path


def test_process_target_runs_the_profiles_command(tmp_path: Path, port: int) -> None:
    profile = write_profile(tmp_path / "local.toml", [sys.executable, str(VLLM_SHIM), "serve"])
    run = run_suite(tmp_path, "-m", "smoke", "--target", "process", "--profile", str(profile), "--port", str(port))
    assert run.exit_code == 0, run.describe()
    assert "target=process" in run.suite_name()
    assert processes_on_port(port) == []


def test_missing_serve_command_is_named(tmp_path: Path, port: int) -> None:
    profile = write_profile(tmp_path / "broken.toml", ["no-such-vllm-binary", "serve"])
    run = run_suite(tmp_path, "-m", "smoke", "-k", "health", "--target", "process", "--profile", str(profile),
                    "--port", str(port))
    run.assert_deployment_failed_once("cannot start 'no-such-vllm-binary'", "setup problem")


def test_port_in_use_is_named_before_starting(tmp_path: Path, port: int) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        run = run_suite(tmp_path, "-m", "smoke", "-k", "health", "--target", "sim", "--port", str(port))
    run.assert_deployment_failed_once(f"port {port} on 127.0.0.1 is already in use", "setup problem")
    assert not (tmp_path / "reports" / "server.log").exists()


USAGE_ERRORS = {
    "unknown-target": (("--target", "bogus"), {}, "--target 'bogus' is not one of"),
    "unknown-profile": (("--profile", "nope"), {}, "unknown profile 'nope'; choose one of"),
    "external-without-url": (("--target", "external"), {}, "--target external needs --base-url"),
    "url-without-external": (("--target", "sim", "--base-url", "http://x:1"), {}, "--base-url is only used"),
    "bad-url": (("--target", "external", "--base-url", "ftp://x"), {}, "is not an http(s) URL"),
    "bad-port": (("--port", "99999"), {}, "--port 99999 is outside 0..65535"),
    "negative-timeout": (("--startup-timeout", "-1"), {}, "--startup-timeout must be positive"),
    "sim-with-hardware-profile": (("--target", "sim", "--profile", "atlas-800i-a2"), {}, "use --profile sim"),
    "bad-env-target": ((), {"PHI4MM_TARGET": "gpu"}, "--target 'gpu' is not one of"),
    "missing-server-log": (("--server-log", "/nonexistent/x.log"), {}, "--server-log '/nonexistent/x.log'"),
}


@pytest.mark.parametrize("case", USAGE_ERRORS, ids=list(USAGE_ERRORS))
def test_bad_option_is_a_one_line_error_with_junit(tmp_path: Path, case: str) -> None:
    args, env, message = USAGE_ERRORS[case]
    run = run_suite(tmp_path, "-m", "smoke", *args, env=env)
    assert run.exit_code == 4, run.describe()
    error_lines = [line for line in run.output.splitlines() if line.startswith("ERROR:")]
    assert len(error_lines) == 1 and message in error_lines[0], run.output
    assert "Traceback" not in run.output
    assert run.not_passed()["configuration"].outcome == "error"


def test_an_option_given_a_path_after_a_space_takes_it_as_its_value(tmp_path: Path, port: int) -> None:
    """`pytest ... --compare-to /elsewhere/metrics.json`, as a release engineer types it in the checkout: the
    path outside the checkout is the option's value, not a test path; pytest.ini is used, JUnit written."""
    previous = tmp_path / "previous"
    assert run_suite(previous, "-m", "smoke", "-k", "test_health", "--target", "sim",
                     "--port", str(port)).exit_code == 0
    reports = tmp_path / "reports"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "smoke", "-k", "test_health or regression", "--target", "sim",
         "--compare-to", str(previous / "reports" / "metrics.json"), "--reports-dir", str(reports),
         "-p", "no:cacheprovider"], cwd=REPO, capture_output=True, text=True, timeout=120,
        env={k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")})  # a user's
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]  # shell, not this xdist worker's
    assert f"rootdir: {REPO}" in done.stdout and "configfile: pytest.ini" in done.stdout, done.stdout[:2000]
    assert (reports / "junit.xml").is_file() and f"--compare-to={previous}" in (reports / "metrics.json").read_text()


def test_bad_profile_file_names_the_field(tmp_path: Path) -> None:
    profile = tmp_path / "typo.toml"
    profile.write_text((REPO / "profiles" / "sim.toml").read_text().replace("max_model_len = 8192", 'max_model_len = "8k"'))
    run = run_suite(tmp_path, "-m", "smoke", "--profile", str(profile))
    assert run.exit_code == 4, run.describe()
    assert "profile typo.toml: model.max_model_len must be a number, got '8k'" in run.output


@pytest.mark.parametrize(("content", "message"), [(b"\xff\xfe\x00garbage", "cannot read profile"),
                                                  (b"[model\n", "is not valid TOML")], ids=["not-text", "not-toml"])
def test_unreadable_profile_is_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    profile = tmp_path / "broken.toml"
    profile.write_bytes(content)
    run = run_suite(tmp_path, "-m", "smoke", f"--profile={profile}")
    assert run.exit_code == 4, run.describe()
    error_lines = [line for line in run.output.splitlines() if line.startswith("ERROR:")]
    assert len(error_lines) == 1 and message in error_lines[0] and "Traceback" not in run.output
    assert run.not_passed()["configuration"].outcome == "error"
