"""Every simulator fault makes the suite fail, and the failing test's message names the cause.

A fault that no test catches is a bug in the suite. Each row: the fault's environment, the test (or the
prefix of its parametrized ids) that must fail or error, and words its message must contain.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from selftests.detection_matrix import FAULTS, HARDWARE_SOAK, LOADS, SCENARIOS, Fault
from selftests.suite_run import processes_on_port, run_suite

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("fault", [pytest.param(fault, id=fault.test_id, marks=[pytest.mark.quiet_machine] * (
    fault.selection == LOADS)) for fault in FAULTS])  # a measured load also judges the rest of its budgets
def test_fault_is_caught(tmp_path: Path, port: int, fault: Fault) -> None:
    run = run_suite(tmp_path, *fault.pytest_args, "--target", "sim", "--port", str(port), *fault.extra_args,
                    env=fault.env)
    assert run.exit_code == 1, run.describe()
    cases = run.cases()
    outcome = {"call": "failed", "setup": "error", "deployment": "failed"}[fault.phase]  # a call-phase failure,
    # not a fixture error; the deployment's own case fails as a call
    caught = {name: case.message for name, case in cases.items()
              if name.startswith(fault.caught_by) and case.outcome == outcome}
    assert caught, (f"no {fault.caught_by} test {outcome}; not passed: "
                    f"{ {n: c.outcome for n, c in run.not_passed().items()} }\n{run.describe()}")
    assert any(fault.message in message for message in caught.values()), (
        f"no {outcome} {fault.caught_by} message names the cause {fault.message!r}: {caught}")
    if fault.kind:
        kinds = {cases[name].properties.get("failure_kind") for name in caught}
        assert kinds == {fault.kind}, f"{fault.caught_by} failed as {kinds}, not {fault.kind!r}"
    if fault.phase == "call":
        broken = {name: cases[name].outcome if name in cases else "not run" for name in fault.unaffected
                  if cases.get(name) is None or cases[name].outcome != "passed"}
        assert broken == {}, f"tests the fault should not touch did not pass: {broken}"
    assert processes_on_port(port) == []


def test_every_simulator_fault_is_in_the_matrix() -> None:
    from dataclasses import fields

    from simulator.faults import Faults

    assert {f.name for f in fields(Faults)} == {fault.name for fault in FAULTS} | {
        scenario.switch for scenario in SCENARIOS if scenario.switch}  # a tail of 3%: only a baseline shows it


def test_the_hardware_soak_passes_a_healthy_simulator(tmp_path: Path, port: int) -> None:
    """The other half of the leak row: the Atlas [soak] (its warm-up filling the multimodal cache, which the
    simulator keeps as vLLM does) passes a server that keeps nothing else per image, with its growth recorded."""
    run = run_suite(tmp_path, "-m", "nightly", "-k", "memory_stays", "--target", "sim", "--port", str(port),
                    "--profile", str(HARDWARE_SOAK))
    assert run.exit_code == 0, run.describe()
    case = run.cases()["test_memory_stays_bounded_over_distinct_images"]
    assert case.outcome == "passed" and float(case.properties["rss_growth_mb"]) < 20, case.properties
    assert int(case.properties["soak_warmup_images"]) == 56 and "process tree" in case.properties["soak_measures"]
