"""The checks behind the vLLM-defect tests: each names the defect it is for, and passes a healthy input."""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from phi4mm_acceptance.accuracy.canary import CanaryAnswer
from phi4mm_acceptance.accuracy.counting import first_miscounted_line, min_tokens_problems
from phi4mm_acceptance.accuracy.lora_effect import adapter_canary_problem, adapter_effect_problem
from phi4mm_acceptance.accuracy.own_transcript import crosstalk_problems, transcript_problem
from phi4mm_acceptance.deployment.memory_growth import growth_by_process, soak_growth
from phi4mm_acceptance.protocol.burst import burst_problems, refusal_problems, refused
from phi4mm_acceptance.protocol.client import HttpReply, StreamReply
from phi4mm_acceptance.protocol.flat_answers import alike_problem, mixup_failure
from phi4mm_acceptance.protocol.media import AudioItem
from phi4mm_acceptance.protocol.parallel import all_at_once
from phi4mm_acceptance.protocol.stream_fidelity import stream_text_problems

MODEL = "phi4mm"
USAGE = {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}


def chat_reply(status: int = 200, body: Any = None) -> HttpReply:
    """A well-formed chat completion (status 200), or `body` with `status`."""
    if body is None:
        body = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": MODEL,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Red.", "refusal": None},
                             "finish_reason": "stop", "logprobs": None}], "usage": USAGE}
    return HttpReply(status, "application/json", json.dumps(body), 1.0, MODEL)


def vllm_error(code: int) -> dict[str, Any]:
    return {"error": {"message": "bad image", "type": "BadRequestError", "param": None, "code": code}}


def test_two_prompts_answered_alike_name_a_model_that_cannot_be_judged() -> None:
    assert "answers two different text prompts alike" in alike_problem("The sky is blue today.", "The sky is blue!")
    assert alike_problem("Paris.", "Four.") is None


def test_a_mixup_blames_the_stack_unless_the_model_answers_everything_alike() -> None:
    stack = mixup_failure("B got A's answer", None, "crosstalk", "hear", "audio crossing (vllm#47459)")
    assert stack.stack_defect == "audio crossing (vllm#47459)" and str(stack) == "B got A's answer"
    flat = mixup_failure("B got A's answer", "also answers two different text prompts alike", "crosstalk", "hear",
                         "audio crossing (vllm#47459)")
    assert flat.stack_defect is None
    assert str(flat).endswith("so crosstalk cannot be told from a model that does not hear its input")


class OwnClient:
    """A stand-in for ChatClient.naming: a client of its own, closed after its call."""

    def __init__(self, model: str, opened: list[OwnClient]) -> None:
        self.model, self.opened, self.closed = model, opened, False
        opened.append(self)

    def naming(self, model: str) -> OwnClient:
        return OwnClient(model, self.opened)

    def close(self) -> None:
        self.closed = True


def test_all_at_once_runs_every_call_together_on_a_client_of_its_own() -> None:
    opened: list[OwnClient] = []
    together = threading.Barrier(3, timeout=5)  # breaks (an error) unless all three calls are in flight at once

    def call(number: int) -> Any:
        return lambda own: (together.wait(), number, own)[1:]

    results = all_at_once(OwnClient(MODEL, opened), [call(n) for n in range(3)])  # type: ignore[arg-type]
    assert [number for number, _ in results] == [0, 1, 2]
    assert len({id(own) for _, own in results}) == 3 and all(own.closed for _, own in results)


@pytest.mark.parametrize(("reply", "problem"), [
    (chat_reply(500, vllm_error(500)), "valid media answered with a server error: HTTP 500: 'bad image'"),
    (chat_reply(400, {"detail": "no"}), "HTTP 400 without vLLM's error body"),
    (chat_reply(400, vllm_error(422)), "HTTP 400 without vLLM's error body"),
], ids=["server-error", "no-error-body", "code-not-the-status"])
def test_a_refusal_of_valid_media_must_be_a_4xx_with_vllms_error_body(reply: HttpReply, problem: str) -> None:
    assert refusal_problems(reply)[0].startswith(problem)
    assert refusal_problems(chat_reply(400, vllm_error(400))) == []


def test_a_burst_names_each_odd_item_text_request_and_the_server_after_it() -> None:
    odd = {"image-1x1": chat_reply(400, vllm_error(400)), "audio-8000hz": chat_reply()}
    assert burst_problems(odd, [chat_reply()] * 2, chat_reply(), 200, 16) == []
    assert refused(odd) == {"image-1x1": 400}
    broken = {**odd, "audio-22050hz": chat_reply(500, vllm_error(500))}
    assert burst_problems(broken, [chat_reply(503, vllm_error(503))], chat_reply(503, vllm_error(503)), 503, 16) == [
        "audio-22050hz: valid media answered with a server error: HTTP 500: 'bad image'",
        "a text request sent with them: HTTP 503: 'bad image'", "text after the burst: HTTP 503: 'bad image'",
        "/health answers 503 after the burst"]


STOPPED = {"plain": "stop", "streamed": "stop"}


@pytest.mark.parametrize(("text", "finishes", "stop", "problem"), [
    ("猫 \ufffd", STOPPED, None, "the plain answer holds U+FFFD"),
    ("Fishing boats rest", STOPPED, "wat", "with stop 'wat' the answer should end right before"),
    ("Fishing boats rest on still ", {"plain": "stop", "streamed": "length"}, "wat", "with stop 'wat'"),
], ids=["split-character", "stopped-late", "finish-length"])
def test_a_stream_text_problem_is_named(text: str, finishes: dict[str, str | None], stop: str | None,
                                        problem: str) -> None:
    unstopped = "Fishing boats rest on still water."
    assert stream_text_problems(text, finishes, unstopped, stop)[0].startswith(problem)
    assert stream_text_problems("Fishing boats rest on still ", STOPPED, unstopped, "wat") == []
    assert stream_text_problems("猫 ねこ", STOPPED) == []


def clip(name: str, transcript: str) -> AudioItem:
    return AudioItem(name, Path(f"{name}.wav"), "Transcribe the audio clip into text.", transcript, "")


CLIPS = [clip("harbour", "The boats rest in the harbour."), clip("server", "The new server has eight cards.")]


def test_a_transcript_nearest_another_clip_or_empty_is_crosstalk() -> None:
    harbour, server = CLIPS
    assert transcript_problem(harbour, "harbour", "the boats rest in the harbor", CLIPS) is None
    assert transcript_problem(harbour, "harbour (+26 s)", "The new server has 8 cards.", CLIPS) == (
        "harbour (+26 s) got 'The new server has 8 cards.', nearest server's words")
    assert crosstalk_problems([(server, "server", ""), (harbour, "harbour", "boats in the harbour")], CLIPS) == [
        "server got an empty transcript"]


def test_a_counting_answer_breaks_at_its_first_wrong_line_a_cut_last_line_is_not_wrong() -> None:
    assert first_miscounted_line(["1", "2", "3"], cut=False) is None
    assert first_miscounted_line(["1", "2", "banana", "4"], cut=False) == 2
    assert first_miscounted_line(["9", "10", "1"], cut=True) == 0
    assert first_miscounted_line([str(n) for n in range(1, 12)] + ["1"], cut=True) is None  # "1" of a cut "12"
    assert first_miscounted_line([str(n) for n in range(1, 12)] + ["1"], cut=False) == 11


def stream_of(completion_tokens: int, finish: str) -> StreamReply:
    def chunk(delta: dict[str, Any] | None, finish_reason: str | None = None,
              usage: dict[str, int] | None = None) -> str:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
        return json.dumps({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": MODEL,
                           "choices": choices, "usage": usage})
    usage = {"prompt_tokens": 10, "completion_tokens": completion_tokens, "total_tokens": 10 + completion_tokens}
    events = [chunk({"role": "assistant", "content": ""}), chunk({"content": "1\n2"}, finish),
              chunk(None, usage=usage), "[DONE]"]
    return StreamReply(200, "text/event-stream; charset=utf-8", events, [1.0] * len(events), expected_model=MODEL)


def test_a_stream_that_ends_before_min_tokens_is_named() -> None:
    assert min_tokens_problems(stream_of(5000, "length"), 8000, 4300) == []
    assert min_tokens_problems(stream_of(120, "stop"), 8000, 4300) == [
        "the answer ended (stop) after 120 tokens, though min_tokens asked for 4300"]


def test_an_adapter_must_move_the_logprobs_past_the_noise_and_pass_the_canary() -> None:
    assert adapter_effect_problem("vision", 0.8, 0.01) is None
    assert "move at most 0.0000 nats" in adapter_effect_problem("vision", 0.0, 0.0)
    assert "listed in /v1/models but not applied" in adapter_effect_problem("vision", 0.1, 0.03)  # under 4x noise
    right, wrong = CanaryAnswer("red-circle", "Colour?", "Red", True), CanaryAnswer("chart", "Tallest?", "?", False)
    assert adapter_canary_problem("vision", [right, right, right, wrong], 0.75) is None
    assert adapter_canary_problem("vision", [right, wrong], 0.75).startswith(
        "through the adapter 'vision' the image canary gets 50% right, under the profile's 75%: wrong: chart")


def test_soak_growth_follows_the_fitted_line_not_one_spike() -> None:
    assert soak_growth([1000.0] * 10) == 0.0
    assert soak_growth([1000.0, 1000.0, 1400.0, 1000.0, 1000.0]) == pytest.approx(0.0)
    assert soak_growth([1000.0 + step for step in range(11)]) == pytest.approx(10.0)
    assert soak_growth([1000.0]) == 0.0
    assert growth_by_process({"api": 500.0, "engine": 800.0}, {"api": 501.0, "engine": 900.04}) == {
        "api": 1.0, "engine": 100.0}
