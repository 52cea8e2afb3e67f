"""Aborted and broken runs leave nothing behind and still write a complete JUnit file.

SIGINT (Ctrl-C) and SIGTERM (an aborted Jenkins build) mid-run, a pytest-timeout expiry, a server that dies
mid-run and a server that never starts: no server process survives, and reports/junit.xml lists every
selected test, the ones never reached with the reason. (The docker target's interrupt is in test_docker.py.)
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from selftests.suite_run import (
    REPO,
    SuiteRun,
    assert_complete,
    processes_on_port,
    run_suite,
    sigint_as_a_terminal_sends_it,
)

pytestmark = pytest.mark.e2e
SMOKE = ("-m", "smoke", "--target", "sim")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "jenkins-abort"])
def test_interrupt_mid_run_stops_the_server_and_reports_every_test(tmp_path: Path, port: int, signum: int) -> None:
    args = (*SMOKE, "--port", str(port))
    command = [sys.executable, "-m", "pytest", "-c", str(REPO / "pytest.ini"), "--rootdir", str(REPO),
               str(REPO / "tests"), "-p", "no:cacheprovider", *args]
    env = {**os.environ, "PYTEST_ADDOPTS": "", "SIM_FAULT_SLOW_FIRST_TOKEN_MS": "300"}
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, preexec_fn=sigint_as_a_terminal_sends_it)
    log = tmp_path / "reports" / "server.log"
    deadline = time.monotonic() + 30
    while not (log.is_file() and "Application startup complete" in log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(2)  # well into the chat tests
    process.send_signal(signum)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 2, output[-2000:]  # pytest's "interrupted"
    assert processes_on_port(port) == []
    run = SuiteRun(process.returncode, output, tmp_path / "reports" / "junit.xml")
    assert_complete(run, tmp_path, *args)
    outcomes = [case.outcome for case in run.cases().values()]
    assert outcomes.count("passed") >= 3 and "not run: the run was interrupted" in run.output + "".join(
        case.message for case in run.cases().values())
    headline = re.search(r"verdict: INTERRUPTED: (.*?); (\d+) passed(, 1 interrupted)?, (\d+) not run of \d+ tests",
                         output)  # the tests never reached are not run, not failures of the deployment
    assert headline and int(headline[4]) >= 10 and headline[1] in ("no failure", "1 serving broken"), output[-2000:]


def test_timeout_expiry_fails_that_test_and_the_run_goes_on(tmp_path: Path, port: int) -> None:
    args = (*SMOKE, "--port", str(port), "-k", "text_only or canary", "--timeout", "2")
    run = run_suite(tmp_path, *args, env={"SIM_FAULT_SLOW_FIRST_TOKEN_MS": "3000"})
    assert run.exit_code == 1, run.describe()
    assert "Timeout (>2.0s)" in run.cases()["test_text_only[capital]"].message
    assert_complete(run, tmp_path, *args)
    assert processes_on_port(port) == []


def test_server_dying_mid_run_stops_the_rest_quickly_with_the_cause(tmp_path: Path, port: int) -> None:
    args = (*SMOKE, "--port", str(port))
    started = time.monotonic()
    run = run_suite(tmp_path, *args, env={"SIM_FAULT_DIE_AFTER": "3", "SIM_TTFT_MS": "200"})
    assert time.monotonic() - started < 60, "tests waited on a dead server"
    assert run.exit_code == 1
    cases = list(run.cases().values())
    died = [case for case in cases if "server died: http://127.0.0.1" in case.message]
    assert len(died) >= 20 and all("stopped answering during test_" in case.message for case in died)
    assert "its log ends: " in died[0].message and "EngineCore encountered a fatal error" in died[0].message
    assert_complete(run, tmp_path, *args)
    assert processes_on_port(port) == []


def test_server_that_never_starts_is_one_failure_with_the_cause_and_every_test_not_run(tmp_path: Path,
                                                                                        port: int) -> None:
    args = (*SMOKE, "--port", str(port))
    run = run_suite(tmp_path, *args, env={"SIM_FAULT_CRASH_ON_START": "1"})
    run.assert_deployment_failed_once("exited with code 1", "serving broken")
    assert_complete(run, tmp_path, *args)
    assert processes_on_port(port) == []
