"""The response checks accept what vLLM sends and name every deviation a defective server could make."""
from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from phi4mm_acceptance.protocol.vllm_api import (
    chat_completion_problems,
    lora_names_listed,
    models_problems,
    parse_error_body,
    reply_model_name,
    stream_problems,
    stream_usage_asked,
    tokenize_counts_media,
    tokenize_may_see_media,
)

MODEL = "phi4mm"


def good_completion() -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Red.", "refusal": None},
                         "finish_reason": "stop", "logprobs": None}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}}


def test_good_completion_passes() -> None:
    assert chat_completion_problems(good_completion(), MODEL, 100) == []


@pytest.mark.parametrize(("path", "problem"), [
    ("choices.0.message.refusal", "the message lacks the required key(s) ['refusal'] (null is allowed, absent is not)"),
    ("choices.0.logprobs", "the choice lacks the required key(s) ['logprobs']"),
    ("usage.completion_tokens", "the usage lacks the required key(s) ['completion_tokens']"),
], ids=["message-refusal", "choice-logprobs", "usage-completion-tokens"])
def test_a_key_the_openai_schema_requires_may_be_null_not_absent(path: str, problem: str) -> None:
    body = copy.deepcopy(good_completion())
    *parents, last = path.split(".")
    node: Any = body
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    del node[last]
    assert any(p.startswith(problem) for p in chat_completion_problems(body, MODEL, 100))


def test_a_field_of_the_wrong_type_is_no_openai_chat_completion() -> None:
    problems = chat_completion_problems(set_path(good_completion(), "choices.0.message.refusal", 7), MODEL, 100)
    assert any(p.startswith("not an OpenAI ChatCompletion: choices.0.message.refusal: Input should be a valid "
                            "string") for p in problems), problems


def set_path(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(body)
    *parents, last = path.split(".")
    node: Any = body
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    node[int(last) if last.isdigit() else last] = value
    return body


@pytest.mark.parametrize(("path", "value", "problem"), [
    ("object", "text_completion", "object is 'text_completion'"),
    ("model", "other", "model is 'other'"),
    ("created", "now", "created is not a unix time"),
    ("id", "", "id is missing or empty"),
    ("choices", [], "exactly one choice"),
    ("choices.0.message.role", "user", "role is 'user'"),
    ("choices.0.message.content", None, "content is not a string"),
    ("choices.0.finish_reason", None, "finish_reason is None"),
    ("usage.total_tokens", 13, "usage does not add up"),
    ("usage.completion_tokens", 101, "usage does not add up"),
    ("usage.prompt_tokens", -1, "usage.prompt_tokens is not a whole number >= 0"),
    ("usage", None, "usage is missing"),
])
def test_each_deviation_is_named(path: str, value: Any, problem: str) -> None:
    problems = chat_completion_problems(set_path(good_completion(), path, value), MODEL, 100)
    assert any(problem in p for p in problems), problems


def test_completion_tokens_over_the_cap_is_named() -> None:
    body = set_path(set_path(good_completion(), "usage.completion_tokens", 7), "usage.total_tokens", 17)
    assert chat_completion_problems(body, MODEL, 5) == ["usage.completion_tokens 7 exceeds max_completion_tokens 5"]


def chunk(delta: dict[str, Any] | None, finish: str | None = None, usage: dict[str, int] | None = None) -> str:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return json.dumps({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": MODEL,
                       "choices": choices, "usage": usage})


USAGE = {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}
GOOD_STREAM = [chunk({"role": "assistant", "content": ""}), chunk({"content": "Re"}), chunk({"content": "d."}, "stop"),
               chunk(None, usage=USAGE), "[DONE]"]


def problems_of(events: list[str], include_usage: bool = True) -> list[str]:
    return stream_problems(events, "text/event-stream; charset=utf-8", MODEL, include_usage, 100)


def test_good_stream_passes() -> None:
    assert problems_of(GOOD_STREAM) == []


@pytest.mark.parametrize(("events", "problem"), [
    (GOOD_STREAM[:-1], "does not end with `data: [DONE]`"),
    ([*GOOD_STREAM, "[DONE]"], "more than once"),
    ([chunk({"content": ""}), *GOOD_STREAM[1:]], "first delta has role None"),
    ([GOOD_STREAM[0], chunk({"content": "Re"}, "stop"), *GOOD_STREAM[2:]], "2 chunks carry a finish_reason"),
    ([GOOD_STREAM[0], GOOD_STREAM[1], chunk({"content": "d."}), *GOOD_STREAM[3:]], "0 chunks carry a finish_reason"),
    ([*GOOD_STREAM[:3], "{not json", *GOOD_STREAM[3:]], "is not JSON"),
    ([GOOD_STREAM[0], GOOD_STREAM[1], GOOD_STREAM[3], GOOD_STREAM[2], "[DONE]"], "exactly the last chunk"),
    ([*GOOD_STREAM[:3], chunk(None, usage={**USAGE, "total_tokens": 99}), "[DONE]"], "usage does not add up"),
    ([GOOD_STREAM[0], GOOD_STREAM[1].replace('"c1"', '"c2"'), *GOOD_STREAM[2:]], "do not share one id"),
    ([GOOD_STREAM[0].replace("chat.completion.chunk", "chat.completion"), *GOOD_STREAM[1:]], "chunk object"),
    ([*GOOD_STREAM[:3], chunk({"content": "!"}), *GOOD_STREAM[3:]], "choices follow the chunk"),
])
def test_each_stream_defect_is_named(events: list[str], problem: str) -> None:
    problems = problems_of(events)
    assert any(problem in p for p in problems), problems


def test_usage_without_include_usage_is_a_defect() -> None:
    assert problems_of(GOOD_STREAM, include_usage=False) == [
        "usage was sent although stream_options.include_usage was not set"]


def test_wrong_content_type_is_named() -> None:
    assert stream_problems(GOOD_STREAM, "application/json", MODEL, True, 100) == [
        "content-type is 'application/json', expected text/event-stream"]


@pytest.mark.parametrize(("body", "message"), [
    ({"error": {"message": "bad", "type": "BadRequestError", "param": None, "code": 400}}, "bad"),
    ({"object": "error", "message": "old style", "type": "BadRequestError", "code": 400}, "old style"),
])
def test_both_vllm_error_shapes_parse(body: dict[str, Any], message: str) -> None:
    error = parse_error_body(body)
    assert error is not None and error.message == message


@pytest.mark.parametrize("body", [None, "text", {"detail": "Not Found"}, {"error": {"message": ""}},
                                  {"error": "Unauthorized"}])
def test_other_bodies_are_not_vllm_errors(body: Any) -> None:
    assert parse_error_body(body) is None


def test_a_500_with_an_empty_message_is_still_vllms_error_body() -> None:
    """vLLM 0.11's answer to an input_audio part with a uuid, measured: its exception had no text."""
    body = {"error": {"message": "", "type": "Internal Server Error", "param": None, "code": 500}}
    assert parse_error_body(body) is None
    error = parse_error_body(body, message_required=False)
    assert error is not None and error.code == 500
    assert parse_error_body({"detail": "Internal Server Error"}, message_required=False) is None


def test_models_list_must_name_the_model_and_its_length() -> None:
    body = {"object": "list", "data": [{"id": MODEL, "object": "model", "max_model_len": 4096}]}
    assert models_problems(body, MODEL, 4096) == []
    assert models_problems(body, MODEL, 8192) == ["max_model_len is 4096, the profile expects 8192"]
    assert "does not list 'other'" in models_problems(body, "other", 4096)[0]


@pytest.mark.parametrize(("parts", "model", "loras", "expected"), [
    (["image_url", "text"], "served", {"image", "audio", "vision"}, "image"),
    (["audio_url", "text"], "served", {"image", "audio"}, "audio"),
    (["input_audio", "text"], "served", {"image", "audio"}, "served"),  # "input": no default LoRA matches
    (["image_url", "audio_url"], "served", {"image", "audio"}, "served"),  # two match: vLLM applies none
    (["image_url"], "served", set(), "served"),
    (["image_url"], "vision", {"image", "vision"}, "vision"),  # the LoRA a request names wins
    (None, "served", {"image"}, "served"),  # plain string content
])
def test_reply_model_name_is_the_lora_vllm_applies(parts, model, loras, expected) -> None:
    content = "hi" if parts is None else [{"type": part} for part in parts]
    payload = {"model": model, "messages": [{"role": "user", "content": content}]}
    assert reply_model_name(payload, "served", frozenset(loras), "0.33.0") == expected


@pytest.mark.parametrize(("parts", "version", "expected"), [
    (["input_audio", "text"], "0.33.0", "served"), (["input_audio", "text"], "0.34.0", "audio"),
    (["input_audio", "text"], "unknown", "audio"),  # an unreadable version: the newest release read
    (["image_url", "input_audio"], "0.33.0", "image"), (["image_url", "input_audio"], "0.34.0", "served"),
    (["audio_url", "text"], "0.34.0", "audio"),
])
def test_from_0_34_an_input_part_names_the_adapter_of_its_modality(parts, version, expected) -> None:
    """vLLM 0.34 drops an `input_` prefix before matching a part to a --default-mm-loras adapter."""
    payload = {"model": "served", "messages": [{"role": "user", "content": [{"type": part} for part in parts]}]}
    assert reply_model_name(payload, "served", frozenset({"image", "audio"}), version) == expected


def test_lora_names_are_those_whose_parent_is_the_served_model() -> None:
    body = {"object": "list", "data": [{"id": "served", "parent": None}, {"id": "image", "parent": "served"},
                                       {"id": "other", "parent": "another-model"}]}
    assert lora_names_listed(body, "served") == {"image"}
    assert lora_names_listed({"error": "x"}, "served") == frozenset()


def test_a_stream_plain_difference_says_where_and_that_no_cache_was_shared() -> None:
    from phi4mm_acceptance.protocol.checks import text_difference

    message = text_difference("Un café ☕☕ chaud", "Un café ☕ chaud", {"plain": "a" * 32, "streamed": "b" * 32})
    assert "from character 9, though both were computed afresh" in message
    assert "cache_salt aaaaaaaa... plain, bbbbbbbb... streamed: no prefix-cache reuse, so no cache hit explains it" in message
    assert "'Un café ☕☕ chaud' (16 characters)" in message and "'Un café ☕ chaud' (15 characters)" in message


def test_an_image_answered_with_anothers_answer_or_its_start_is_a_mixup_a_late_divergence_is_not() -> None:
    from phi4mm_acceptance.protocol.checks import mixup_problems

    names = ("red-circle", "another-448px-image")
    a, b = "A red circle on a white background.", "A gradient with a small square."
    assert mixup_problems(a, b, a, names) == []
    assert mixup_problems(a, b, a[:30] + " ground.", names) == []  # parts late: batches differ numerically
    assert mixup_problems(a, a, a, names) == ["image another-448px-image got image red-circle's answer (35 of 35 "
                                              "characters the same): 'A red circle on a white background.' against "
                                              "'A red circle on a white background.'"]
    leading = a[:18] + "gradient, small."  # B got A's leading half, then its own (prefix blocks shared)
    assert "got image red-circle's answer for its leading half (18 of 34" in mixup_problems(a, leading, a, names)[0]
    assert mixup_problems(a, a[:8] + " gradient, squares.", a, names) == []  # under half the same: no mixup
    assert "answered twice parts within its first half (at character 2)" in mixup_problems(
        a, b, "A blue square on grey.", names)[0]


def test_a_stop_string_comes_from_the_second_half_and_leaves_text_before_it() -> None:
    from phi4mm_acceptance.protocol.checks import stop_string_for

    answer = "Fishing boats rest on still water."
    stop = stop_string_for(answer)
    assert stop is not None and answer.index(stop) >= len(answer) // 2 - 3 and answer.index(stop) > 0
    assert stop_string_for("bbbbbbbb") == "bbb"  # a repetitive answer: it stops empty
    assert stop_string_for("ab") is None


@pytest.mark.parametrize(("options", "version", "asked"), [
    (None, "0.13.0", (False, False)), ({"continuous_usage_stats": True}, "0.13.0", (True, True)),
    ({"continuous_usage_stats": True}, "0.18.0", (False, False)), ({"include_usage": False}, "0.13.0", (False, False)),
    ({"include_usage": True, "continuous_usage_stats": True}, "0.34.0", (True, True)),
    ({"continuous_usage_stats": True}, None, (False, False)),  # an unreadable version: the newest read
])
def test_stream_usage_is_what_the_servers_version_reads_the_options_as(options, version, asked) -> None:
    """include_usage defaults to True up to 0.17 (measured 0.13.0), to False from 0.18."""
    assert stream_usage_asked(options, version) == asked


@pytest.mark.parametrize(("release", "counts", "may_see"), [
    ((0, 13, 0), False, True), ((0, 17, 0), False, False), ((0, 19, 0), False, False), ((0, 20, 0), True, True),
    (None, True, True),
])
def test_tokenize_counts_media_from_0_17_and_is_sent_none_in_0_17_to_0_19(release, counts, may_see) -> None:
    """Up to 0.16 no media are counted there (but sending them is harmless); 0.17-0.19 count them, but a chat with
    the same media then fails (vllm-bugs.toml tokenize-media-cache-miss)."""
    assert tokenize_counts_media(release) is counts and tokenize_may_see_media(release) is may_see


def two_choices() -> dict[str, Any]:
    body = good_completion()
    body["choices"].append({**copy.deepcopy(body["choices"][0]), "index": 1})
    body["usage"] = {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}
    return body


def test_n_choices_indexed_with_usage_summed_pass() -> None:
    assert chat_completion_problems(two_choices(), MODEL, 2, n=2) == []


@pytest.mark.parametrize(("body", "problem"), [
    (good_completion(), "choices must hold exactly 2 choices (the request's n)"),
    (set_path(two_choices(), "choices.1.index", 0), "choices are indexed [0, 0], expected [0, 1]"),
    (set_path(two_choices(), "choices.1.finish_reason", None), "choices[1].finish_reason is None"),
    (set_path(set_path(two_choices(), "usage.completion_tokens", 1), "usage.total_tokens", 11),
     "fewer than the 2 choices"),
], ids=["one-choice", "same-index", "second-unfinished", "usage-not-summed"])
def test_each_n_choices_defect_is_named(body: dict[str, Any], problem: str) -> None:
    problems = chat_completion_problems(body, MODEL, 2, n=2)
    assert any(problem in p for p in problems), problems


def choice_chunk(index: int, delta: dict[str, Any], finish: str | None = None, so_far: int | None = None) -> str:
    usage = None if so_far is None else {"prompt_tokens": 10, "completion_tokens": so_far, "total_tokens": 10 + so_far}
    return json.dumps({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": MODEL,
                       "choices": [{"index": index, "delta": delta, "finish_reason": finish}], "usage": usage})


TWO_CHOICE_STREAM = [  # as vLLM 0.32 streams n=2 with continuous_usage_stats (measured)
    choice_chunk(0, {"role": "assistant", "content": ""}, so_far=0),
    choice_chunk(1, {"role": "assistant", "content": ""}, so_far=0),
    choice_chunk(0, {"content": "Re"}, so_far=1), choice_chunk(1, {"content": "Bl"}, so_far=1),
    choice_chunk(0, {"content": "d."}, "length", so_far=2), choice_chunk(1, {"content": "ue"}, "length", so_far=2),
    chunk(None, usage={"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}), "[DONE]"]


def two_choice_problems(events: list[str]) -> list[str]:
    return stream_problems(events, "text/event-stream", MODEL, True, 2, continuous_usage=True, n=2)


def test_a_stream_of_n_choices_as_vllm_sends_it_passes() -> None:
    assert two_choice_problems(TWO_CHOICE_STREAM) == []


@pytest.mark.parametrize(("events", "problem"), [
    ([TWO_CHOICE_STREAM[0], *TWO_CHOICE_STREAM[2:3], TWO_CHOICE_STREAM[4], *TWO_CHOICE_STREAM[6:]],
     "the chunks' choices are indexed [0], expected [0, 1]"),
    ([*TWO_CHOICE_STREAM[:5], choice_chunk(1, {"content": "ue"}, so_far=2), *TWO_CHOICE_STREAM[6:]],
     "choice 1: 0 chunks carry a finish_reason"),
    ([*TWO_CHOICE_STREAM[:6], chunk(None, usage={"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}),
      "[DONE]"], "continuous usage does not count the tokens generated so far"),
], ids=["one-choice-streamed", "second-unfinished", "usage-not-summed"])
def test_each_n_choices_stream_defect_is_named(events: list[str], problem: str) -> None:
    problems = two_choice_problems(events)
    assert any(problem in p for p in problems), problems
