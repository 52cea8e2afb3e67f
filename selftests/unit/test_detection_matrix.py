"""The detection matrix stays true: every scenario names a self-test that exists, every fault has a kind."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from selftests.detection_matrix import CATEGORY, FAULTS, SCENARIOS

SELFTESTS = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.proven_by.split("::")[1] for s in SCENARIOS])
def test_scenario_is_proven_by_an_existing_self_test(scenario) -> None:
    path, _, test = scenario.proven_by.partition("::")
    name, _, param = test.partition("[")
    source = (SELFTESTS / path).read_text()
    assert re.search(rf"^def {re.escape(name)}\(", source, re.M), f"{scenario.proven_by}: no such test"
    if param:
        assert f'"{param.rstrip("]")}"' in source, f"{scenario.proven_by}: no such parameter id"


def test_every_fault_has_a_kind_and_a_unique_id() -> None:
    assert {fault.name for fault in FAULTS} <= set(CATEGORY)
    ids = [fault.test_id for fault in FAULTS]
    assert len(ids) == len(set(ids))
