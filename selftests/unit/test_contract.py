"""contract/vllm-requests.toml: every case the robustness tests send has an answer for every vLLM version,
and the answer picked follows the version the server reports."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from phi4mm_acceptance.contract import ContractError, load_contract, release_of

CONTRACT = load_contract()
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("version", "release"), [
    ("0.32.0", (0, 32, 0)), ("0.25.0rc1", (0, 25, 0)), ("0.11.0+simulator", (0, 11, 0)), ("v0.23", (0, 23, 0)),
    ("0.11.1.dev12+gabcdef", (0, 11, 1)), ("unknown", None), (None, None),
])
def test_release_of_a_version_string(version, release) -> None:
    assert release_of(version) == release


@pytest.mark.parametrize(("case", "version", "status"), [
    ("missing-image-url", "0.11.0", 500), ("missing-image-url", "0.24.9", 500), ("missing-image-url", "0.25.0rc1", 422),
    ("missing-image-url", "0.33.0", 422), ("zero-max-tokens", "0.15.1", 200), ("zero-max-tokens", "0.16.0", 400),
    ("completion-exceeds-context", "0.31.0", 400), ("completion-exceeds-context", "0.32.0+cpu", 200),
    ("unknown-role", "0.11.0", 200), ("unreachable-image-url", "0.23.0", 500), ("unknown-model", "0.9.0", 404),
])
def test_answer_follows_the_servers_version(case, version, status) -> None:
    answer, note = CONTRACT.answer(case, version)
    assert answer.status == status and answer.source and not note


def test_an_unreadable_version_is_held_to_the_newest_behaviour_and_says_so() -> None:
    answer, note = CONTRACT.answer("missing-image-url", "unknown")
    assert answer.status == 422 and "unreadable" in note


def test_every_robustness_case_is_in_the_contract() -> None:
    sent = re.findall(r'OddRequest\("([a-z0-9-]+)"', (REPO / "tests" / "test_robustness.py").read_text())
    assert sent and set(sent) == set(CONTRACT.cases)


@pytest.mark.parametrize("answers", [
    '[{ status = 400 }]',
    '[{ status = 400, source = "x" }, { since = "0.20", status = 422 }]',
    '[{ since = "0.20", status = 400, source = "x" }, { since = "0.12", status = 422, source = "y" }]',
    '[]',
])
def test_a_malformed_case_is_named(tmp_path, answers) -> None:
    path = tmp_path / "contract.toml"
    path.write_text(f"[some-case]\nanswers = {answers}\n")
    with pytest.raises(ContractError, match="some-case"):
        load_contract(path)
