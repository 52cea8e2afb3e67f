"""Readiness: the three uvicorn lines in order plus /health, failing fast with the log tail."""
from __future__ import annotations

from pathlib import Path

import pytest

from phi4mm_acceptance.deployment.logwatch import LogFollower
from phi4mm_acceptance.deployment.readiness import (
    StartupError,
    StartupLineTracker,
    error_lines,
    startup_problems,
    wait_until_ready,
)

GOOD = ["INFO 11-25 [api_server.py:1] vLLM API server version 0.11.0",
        "INFO:     Started server process [42]",
        "INFO:     Waiting for application startup.",
        "INFO:     Application startup complete."]


def test_good_start_has_no_problems() -> None:
    assert startup_problems(GOOD) == []


def test_missing_and_out_of_order_lines_are_named() -> None:
    assert startup_problems(GOOD[:2]) == ["start-up line 'Waiting for application startup.' not found",
                                          "start-up line 'Application startup complete.' not found"]
    swapped = [GOOD[0], GOOD[2], GOOD[1], GOOD[3]]
    assert any("out of order" in p for p in startup_problems(swapped))


def test_tracker_reports_a_skipped_line_as_soon_as_a_later_one_appears() -> None:
    tracker = StartupLineTracker()
    tracker.feed([GOOD[1]])
    assert tracker.skipped() is None
    tracker.feed([GOOD[3]])
    assert "'Waiting for application startup.' is missing" in (tracker.skipped() or "")


def test_error_lines_include_worker_prefixed_errors_and_tracebacks() -> None:
    lines = ["INFO ok", "(EngineCore_DP0 pid=7) ERROR 11-25 [core.py:1] boom", "Traceback (most recent call last):",
             "INFO: an ERROR word inside a message does not count", "ERROR:    Exception in ASGI application"]
    assert error_lines(lines) == [lines[1], lines[2], lines[4]]


def write(path: Path, lines: list[str]) -> LogFollower:
    path.write_text("\n".join(lines) + "\n")
    return LogFollower(path)


def test_ready_when_lines_and_health_agree(tmp_path: Path) -> None:
    log = write(tmp_path / "s.log", GOOD)
    assert wait_until_ready(log, lambda: 200, lambda: None, 5, "server", poll_s=0.01) < 1


def test_process_exit_fails_at_once_with_the_tail(tmp_path: Path) -> None:
    log = write(tmp_path / "s.log", ["Traceback (most recent call last):", "RuntimeError: NPU out of memory"])
    with pytest.raises(StartupError, match="exited with code 1 during start-up") as error:
        wait_until_ready(log, lambda: None, lambda: 1, 60, "server", poll_s=0.01)
    assert "RuntimeError: NPU out of memory" in str(error.value)


def test_timeout_says_what_was_awaited_and_the_health_status(tmp_path: Path) -> None:
    log = write(tmp_path / "s.log", GOOD[:2])
    with pytest.raises(StartupError) as error:
        wait_until_ready(log, lambda: 503, lambda: None, 0.05, "server", poll_s=0.01)
    assert "still waiting for 'Waiting for application startup.' (/health: 503)" in str(error.value)
    assert "--startup-timeout" in str(error.value)


def test_health_must_be_200_after_the_lines(tmp_path: Path) -> None:
    log = write(tmp_path / "s.log", GOOD)
    with pytest.raises(StartupError, match="still waiting for 'GET /health == 200'"):
        wait_until_ready(log, lambda: 503, lambda: None, 0.05, "server", poll_s=0.01)


def test_log_follower_keeps_partial_lines_and_strips_colour(tmp_path: Path) -> None:
    path = tmp_path / "s.log"
    path.write_text("\x1b[32mINFO\x1b[0m:     Started server process [1]\nWaiting for")
    follower = LogFollower(path)
    assert follower.poll() == ["INFO:     Started server process [1]"]
    with path.open("a") as handle:
        handle.write(" application startup.\n")
    assert follower.poll() == ["Waiting for application startup."]
