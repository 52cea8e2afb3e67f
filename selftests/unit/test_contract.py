"""contract/vllm-requests.toml: every case the robustness tests send has an answer for every vLLM version,
and the answer picked follows the version the server reports."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from phi4mm_acceptance.protocol.checks import error_with_http_200
from phi4mm_acceptance.protocol.client import HttpReply
from phi4mm_acceptance.protocol.contract import ContractError, load_contract, load_known_bugs, release_of

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
    ("unknown-role", "0.11.0", 200), ("unreachable-image-url", "0.23.0", 500), ("unknown-model", "0.11.0", 404),
])
def test_answer_follows_the_servers_version(case, version, status) -> None:
    answer, note = CONTRACT.answer(case, version)
    assert answer.status == status and answer.source and not note


def test_an_unreadable_version_is_held_to_the_newest_behaviour_and_says_so() -> None:
    answer, note = CONTRACT.answer("missing-image-url", "unknown")
    assert answer.status == 422 and "the server's vLLM version is unknown (unknown)" in note


@pytest.mark.parametrize(("version", "status", "words"), [
    ("0.35.0", 400, "vLLM 0.35.0 is newer than 0.34.0, the newest release this suite has read: its answers are "
                    "0.34.0's"),
    ("0.34.1.dev3+g1234", 400, "vLLM 0.34.1.dev3+g1234 is newer than 0.34.0"),
    ("0.9.2", 200, "vLLM 0.9.2 is older than 0.11.0, the oldest release this suite has read: its answers are "
                   "0.11.0's"),
])
def test_a_version_the_suite_has_not_read_gets_the_nearest_answer_and_says_so(version, status, words) -> None:
    """zero-max-tokens: 200 in the oldest release read, 400 from 0.16 (so the nearest release decides)."""
    answer, note = CONTRACT.answer("zero-max-tokens", version)
    assert answer.status == status and words in note


@pytest.mark.parametrize("version", ["0.11.0", "0.34.0", "0.34.0+cpu", "0.23.0rc1"])
def test_a_version_the_suite_has_read_says_nothing(version) -> None:
    assert CONTRACT.answer("zero-max-tokens", version)[1] == ""





def test_every_robustness_case_is_in_the_contract() -> None:
    sent = re.findall(r'OddRequest\("([a-z0-9-]+)"', (REPO / "tests" / "test_robustness.py").read_text())
    assert sent and set(sent) == set(CONTRACT.cases)


@pytest.mark.parametrize(("case", "version", "status"), [
    ("audio-over-size-limit", "0.28.0", None), ("audio-over-size-limit", "0.29.0", 400),
    ("audio-over-duration-limit", "0.23.0", None), ("audio-over-duration-limit", "0.24.0", 400),
    ("image-over-download-limit", "0.28.0", None), ("image-over-download-limit", "0.33.0", 422),
])
def test_a_limit_is_judged_only_where_vllm_has_it(case, version, status) -> None:
    assert CONTRACT.answer(case, version)[0].status == status


@pytest.mark.parametrize(("env", "value"), [({}, 25), ({"VLLM_MAX_AUDIO_CLIP_FILESIZE_MB": "2"}, 2),
                                            ({"VLLM_MAX_AUDIO_CLIP_FILESIZE_MB": "many"}, 25)])
def test_a_limit_is_the_servers_setting_else_vllms_default(env, value) -> None:
    assert CONTRACT.limits["audio-over-size-limit"].value(env) == value


@pytest.mark.parametrize(("args", "value"), [((), 20), (("--max-logprobs", "5"), 5), (("--max-logprobs=7",), 7),
                                             (("--max-lora-rank", "8"), 20)])
def test_a_limit_set_by_an_option_of_vllm_serve_is_read_from_the_servers_arguments(args, value) -> None:
    assert CONTRACT.limits["too-many-logprobs"].value({}, args) == value





@pytest.mark.parametrize(("version", "verdict"), [("0.16.0", "this server's vLLM 0.16.0 has it: upgrade"),
                                                  ("0.15.0+cpu", "has it: upgrade"),
                                                  ("0.17.0", "which should not have it"),
                                                  (None, "version is not known")])
def test_an_error_with_http_200_names_the_bug_and_its_versions(version, verdict) -> None:
    body = '{"error": {"message": "Failed to fetch media", "type": "Internal Server Error", "code": 500}}'
    problem = error_with_http_200(HttpReply(200, "application/json", body, 1.0), version)
    assert problem and "code 500" in problem and "vLLM 0.15.0 up to 0.17.0" in problem and verdict in problem


def test_a_completion_is_no_error_with_http_200() -> None:
    assert error_with_http_200(HttpReply(200, "application/json", '{"object": "chat.completion", "choices": []}', 1.0), "0.16.0") is None
    assert error_with_http_200(HttpReply(500, "application/json", '{"error": {"message": "x", "code": 500}}', 1.0), "0.16.0") is None


def test_every_known_bug_has_its_versions_and_source() -> None:
    bugs = load_known_bugs()
    assert bugs and all(bug.since < bug.fixed_in and bug.source.startswith(("source ", "measured ")) for bug in bugs.values())


@pytest.mark.parametrize(("case", "version", "applies"), [
    ("too-many-images", "0.11.0", True), ("context-overflow", "0.22.0", False), ("context-overflow", "0.23.0", True),
    ("audio-over-duration-limit", "0.32.0+cpu", True), ("context-overflow", "unknown", False),
])
def test_a_message_is_held_to_the_setting_it_states_from_the_release_read(case, version, applies) -> None:
    assert CONTRACT.states[case].applies(version) is applies


@pytest.mark.parametrize(("body", "words"), [
    ('[some-case]\nanswers = [{ status = 400 }]', "some-case"),
    ('[some-case]\nanswers = [{ status = 400, source = "x" }, { since = "0.20", status = 422 }]', "some-case"),
    ('[some-case]\nanswers = [{ since = "0.20", status = 400, source = "x" }, { since = "0.12", status = 422, '
     'source = "y" }]', "some-case"),
    ("[some-case]\nanswers = []", "some-case"),
    ('[some-case]\nanswers = [{ source = "no status and no no_limit" }]', "some-case"),
    ('[big-case]\nlimit = { default = 3 }\nanswers = [{ status = 400, source = "x" }]', "big-case limit"),
    # a row written for a release the suite has not read would be judged before anyone read it
    ('[future-case]\nanswers = [{ status = 400, source = "x" }, { since = "0.99", status = 422, source = "y" }]',
     "future-case has an answer since a release newer than the newest read"),
    ('[said-case]\nstates = { setting = "bogus", since = "0.23", source = "x" }\n'
     'answers = [{ status = 400, source = "x" }]', "said-case states"),
    ('[said-case]\nstates = { setting = "max_model_len", source = "x" }\nanswers = [{ status = 400, source = "x" }]',
     "said-case states"),
    ('[said-case]\nstates = { setting = "limit", since = "0.23", source = "x" }\n'  # no limit of its own
     'answers = [{ status = 400, source = "x" }]', "said-case states"),
])
def test_a_malformed_contract_names_the_case(tmp_path, body, words) -> None:
    path = tmp_path / "contract.toml"
    path.write_text(body + "\n")
    with pytest.raises(ContractError, match=re.escape(words)):
        load_contract(path)
