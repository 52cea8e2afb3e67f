"""Every simulator fault makes the suite fail, and the failing test's message names the cause.

A fault that no test catches is a bug in the suite. Each row: the fault's environment, the test (or the
prefix of its parametrized ids) that must fail or error, and words its message must contain.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from selftests.suite_run import processes_on_port, run_suite

pytestmark = pytest.mark.e2e


FUNCTIONAL = ("-m", "not performance")
LOADS = ("-m", "performance", "-k", "load_meets_budgets")


@dataclass(frozen=True)
class Fault:
    name: str
    env: dict[str, str]
    caught_by: str
    message: str
    extra_args: tuple[str, ...] = ()
    selection: tuple[str, ...] = FUNCTIONAL  # the tests to run: the functional ones, or the loads


FAULTS = (
    Fault("crash_on_start", {"SIM_FAULT_CRASH_ON_START": "1"}, "test_health", "exited with code 1"),
    Fault("hang_on_start", {"SIM_FAULT_HANG_ON_START": "1"}, "test_health", "not ready after 3 s",
          ("--startup-timeout", "3")),
    Fault("drop_startup_line", {"SIM_FAULT_DROP_STARTUP_LINE": "2"}, "test_health",
          "'Waiting for application startup.' is missing"),
    Fault("error_in_startup_log", {"SIM_FAULT_ERROR_IN_STARTUP_LOG": "1"}, "test_startup_log_has_no_errors",
          "error line(s) in the start-up log"),
    Fault("http500_every", {"SIM_FAULT_HTTP500_EVERY": "5"}, "test_image_question", "HTTP 500"),
    Fault("ignore_images", {"SIM_FAULT_IGNORE_IMAGES": "1"}, "test_image_tokens_counted",
          "did not feed the image"),
    Fault("ignore_max_tokens", {"SIM_FAULT_IGNORE_MAX_TOKENS": "1"}, "test_finish_reason_length_when_capped[plain]",
          "exceeds max_completion_tokens 5"),
    Fault("stream_no_done", {"SIM_FAULT_STREAM_NO_DONE": "1"}, "test_stream_matches_non_stream[red-circle]",
          "does not end with `data: [DONE]`"),
    Fault("stream_no_role", {"SIM_FAULT_STREAM_NO_ROLE": "1"}, "test_stream_matches_non_stream[red-circle]",
          "the first delta has role None"),
    Fault("die_after", {"SIM_FAULT_DIE_AFTER": "3"}, "test_image_question[bar-chart-base64]", "server not answering"),
    Fault("slow_first_token_ms", {"SIM_FAULT_SLOW_FIRST_TOKEN_MS": "1500"},
          "test_stream_matches_non_stream[red-circle]", "time to first token"),
    Fault("slow_first_token_ms", {"SIM_FAULT_SLOW_FIRST_TOKEN_MS": "1500"}, "test_load_meets_budgets[image]",
          "p99_ttft_ms = ", selection=LOADS),
    Fault("slow_decode_ms", {"SIM_FAULT_SLOW_DECODE_MS": "10"}, "test_load_meets_budgets[text]",
          "mean_tpot_ms = ", selection=LOADS),
    Fault("serialize_requests", {"SIM_FAULT_SERIALIZE_REQUESTS": "1"}, "test_load_meets_budgets[text]",
          "output_throughput = ", selection=LOADS),
    Fault("bad_usage", {"SIM_FAULT_BAD_USAGE": "1"}, "test_text_only[capital]", "usage does not add up"),
    Fault("bad_request_as_500", {"SIM_FAULT_BAD_REQUEST_AS_500": "1"},
          "test_bad_request_is_refused_and_server_recovers[too-many-images]", "HTTP 500, expected 400"),
    Fault("wrong_max_model_len", {"SIM_FAULT_WRONG_MAX_MODEL_LEN": "8192"}, "test_models_lists_served_model",
          "max_model_len is 8192"),
    Fault("wrong_answers_pct", {"SIM_FAULT_WRONG_ANSWERS_PCT": "40"}, "test_image_canary",
          "is below the profile's 90%"),
)


@pytest.mark.parametrize("fault", FAULTS, ids=[f"{fault.name}-{fault.caught_by.split('[')[0]}" for fault in FAULTS])
def test_fault_is_caught(tmp_path: Path, port: int, fault: Fault) -> None:
    run = run_suite(tmp_path, *fault.selection, "--target", "sim", "--port", str(port), *fault.extra_args,
                    env=fault.env)
    assert run.exit_code == 1, run.describe()
    caught = {name: case.message for name, case in run.not_passed().items() if name.startswith(fault.caught_by)}
    assert caught, f"no {fault.caught_by} test failed; failing tests: {sorted(run.not_passed())}\n{run.describe()}"
    assert any(fault.message in message for message in caught.values()), (
        f"no failing {fault.caught_by} message names the cause {fault.message!r}: {caught}")
    assert processes_on_port(port) == []


def test_every_simulator_fault_is_in_the_matrix() -> None:
    from dataclasses import fields

    from simulator.faults import Faults

    assert {f.name for f in fields(Faults)} == {fault.name for fault in FAULTS}
