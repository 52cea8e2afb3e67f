"""The release report's gate table finds a test's figures by the profile table it declared it judges
(judges(...)), never by its name: a renamed test keeps its rows, a test that declared nothing gets none."""
from __future__ import annotations

from typing import Any

from phi4mm_acceptance.deployment.profile_files import load_profile
from phi4mm_acceptance.report.gates import gate_rows
from phi4mm_acceptance.report.run import PROFILE_GATE


def entry(figures: dict[str, Any]) -> dict[str, Any]:
    return {"outcome": "passed", "duration_s": 1.0, "figures": figures}


def test_rows_follow_the_declared_profile_table_not_the_test_name() -> None:
    profile = load_profile("sim")
    load, dataset = profile.performance[0], profile.accuracy.datasets[0]
    figures = {"p99_ttft_ms": 1.0, "p99_tpot_ms": 1.0, "p99_itl_ms": 1.0, "p99_e2el_ms": 1.0, "failed": 0,
               "output_throughput": 1e6}
    tests = {"tests/anywhere.py::renamed_load[x]": entry({PROFILE_GATE: f"performance.{load.name}", **figures}),
             "tests/anywhere.py::undeclared_load": entry(figures),
             "tests/anywhere.py::renamed_dataset": entry({PROFILE_GATE: f"accuracy.aisbench.{dataset.name}",
                                                               "score": 99.0, "samples": 1000})}
    gates = {row.gate for row in gate_rows(profile, tests)}
    assert gates == {"renamed_load[x]", "renamed_dataset"}
