"""Defects vLLM has really shipped in multimodal serving, drawn from its issue tracker (each test cites its
threads). They pass plain protocol checks: the server answers 200, the JSON is well formed, the answer is
fluent, and it is about the wrong image, or the engine behind healthy probes is stuck, or the stream lies.
None needs the right answer, so each holds on a random-weight model too (the real-vLLM self-test stage).
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from typing import Any

import pytest

from fixtures.selection import not_applicable
from phi4mm_acceptance.checks import (
    answer_text,
    chat_reply_problems,
    mixup_problems,
    probe_statuses,
    stop_string_for,
    stream_and_plain,
    stream_reply_problems,
)
from phi4mm_acceptance.client import ChatClient, TokenStall
from phi4mm_acceptance.media import audio_url_part, load_manifest, user_message
from phi4mm_acceptance.odd_media import odd_media
from phi4mm_acceptance.profile import Profile

MANIFEST = load_manifest()
RecordProperty = Callable[[str, object], None]
IMAGES_APART = ("red-circle", "bar-chart")  # as unlike as two images get: A, B
STREAM_PROMPTS = {prompt["name"]: prompt["question"] for prompt in MANIFEST.stream_prompts}


def served(profile: Profile) -> set[str]:
    limits = profile.model.limit_mm_per_prompt
    return {m for m in ("image", "audio") if not limits or limits.get(m, 0) > 0}


def plain(client: ChatClient, messages: list[dict[str, Any]], max_tokens: int, **params: Any) -> str:
    reply = client.chat(messages, max_completion_tokens=max_tokens, temperature=0, **params)
    problems = chat_reply_problems(reply, max_tokens)
    assert not problems, "; ".join(problems)
    return answer_text(reply)


@pytest.mark.smoke
@pytest.mark.image
@pytest.mark.parametrize("cache", ["prefix-cache-shared", "cache-salt-each"])
def test_each_image_gets_its_own_answer(client: ChatClient, profile: Profile, cache: str) -> None:
    """Image A, then B, then A again, the same question at temperature 0. Prefix and multimodal cache
    collisions answered one image's question with another's answer (vllm#12603, #36708; LMCache#4086). B's
    answer must differ from A's, and A's two answers agree on their leading half: vLLM promises no
    bit-identical output across batches, so a late divergence is no defect."""
    answers = []
    for name in (*IMAGES_APART, IMAGES_APART[0]):
        salt = {"cache_salt": uuid.uuid4().hex} if cache == "cache-salt-each" else {}
        messages = user_message(MANIFEST.describe_question, MANIFEST.image(name).data_url())
        answers.append(plain(client, messages, profile.chat.max_completion_tokens, **salt))
    problems = mixup_problems(*answers, names=IMAGES_APART)
    assert not problems, "; ".join(problems)


def warm_up_messages(profile: Profile) -> list[dict[str, Any]]:
    """A multimodal request of a modality the profile serves (image first), to warm the engine up."""
    if "image" in served(profile):
        return user_message(MANIFEST.describe_question, MANIFEST.image("red-circle").data_url())
    clip = MANIFEST.transcription_clips[0]
    return [{"role": "user", "content": [audio_url_part(clip.data_url()),
                                         {"type": "text", "text": clip.question}]}]


@pytest.mark.smoke
def test_engine_answers_within_the_token_deadline_after_multimodal_warmup(client: ChatClient, profile: Profile,
                                                                          record_property: RecordProperty) -> None:
    """The engine died or hung while /health, /version and /v1/models kept answering 200 (vllm#39863, #17972):
    probes cannot tell. After a multimodal warm-up a tiny streamed completion must finish, and no token may
    take longer than the profile's max_token_gap_s: a stalled stream fails in seconds, never a 600 s hang."""
    gap = profile.chat.max_token_gap_s
    try:
        for messages, cap in ((warm_up_messages(profile), 8), ([{"role": "user", "content": "Say OK."}], 2)):
            reply = client.stream_chat(messages, max_completion_tokens=cap, token_gap_s=gap)
            problems = stream_reply_problems(reply, cap)
            assert not problems, "; ".join(problems)
    except TokenStall as stall:
        raise AssertionError(f"{stall}; meanwhile {probe_statuses(client)}: the probes say healthy while chat "
                             "is stuck") from None
    record_property("max_token_gap_ms", round(max(reply.gaps_ms(), default=0.0), 1))


@pytest.mark.smoke
@pytest.mark.parametrize(("prompt", "stop"), [(name, stop) for name in STREAM_PROMPTS for stop in (False, True)],
                         ids=[f"{name}{'-stop' * stop}" for name in STREAM_PROMPTS for stop in (False, True)])
def test_stream_tells_the_same_text_as_plain(client: ChatClient, profile: Profile, prompt: str, stop: bool) -> None:
    """Streams that lied: with `stop` strings the streamed text lost its end or leaked a prefix of the stop
    string (vllm#8468); multi-byte characters came split into U+FFFD or doubled (vllm#8627,
    vllm-ascend#12030); a stream held only `data: [DONE]` (vllm#40986). Plain and streamed answers, each
    computed afresh (cache_salt), must be the same text; with a stop string taken from the unstopped answer,
    both end right before its first occurrence, with finish_reason "stop"."""
    messages = [{"role": "user", "content": STREAM_PROMPTS[prompt]}]
    cap = profile.chat.max_completion_tokens
    params: dict[str, Any] = {}
    if stop:
        unstopped = plain(client, messages, cap, cache_salt=uuid.uuid4().hex)
        chosen = stop_string_for(unstopped)
        if chosen is None:
            not_applicable(f"the answer is too short to hold a 3-character stop string: {unstopped!r}")
        params["stop"] = [chosen]
    compared = stream_and_plain(client, messages, cap, **params)
    assert not compared.problems, "; ".join(compared.problems)
    text = answer_text(compared.plain)
    if "\ufffd" in text:
        raise AssertionError(f"the plain answer holds U+FFFD (a split multi-byte character): {text[:200]!r}")
    if stop:
        expected = unstopped[:unstopped.index(chosen)]
        finish = compared.plain.json["choices"][0]["finish_reason"]
        assert text == expected and finish == "stop", (
            f"with stop {chosen!r} the answer should end right before its first occurrence ({expected[-60:]!r}, "
            f"finish_reason 'stop'); got {text[-60:]!r}, finish_reason {finish!r}")


@pytest.mark.smoke
def test_odd_media_fail_alone_and_the_server_keeps_serving(client: ChatClient, profile: Profile,
                                                          record_property: RecordProperty) -> None:
    """One bad item took the whole server down (vllm#55546, #15404). A burst of odd but valid media (a 1x1
    and a 2400x1600 image, audio at 8 to 48 kHz, stereo, 0.5 to 8 s), sent together with plain text requests:
    each odd one is answered well-formed or refused on its own, every text request succeeds, and afterwards
    the server still answers text and /health."""
    items = odd_media(served(profile))
    if not items:
        not_applicable(f"profile {profile.name!r} serves neither images nor audio")
    text = [{"role": "user", "content": "Name three colours."}]

    def odd(item: Any) -> tuple[str, int, list[str]]:
        messages = [{"role": "user", "content": [item.part, {"type": "text", "text": "What is this?"}]}]
        with closing(client.naming(client.model)) as own:  # a thread of its own, connections of its own
            reply = own.chat(messages, max_completion_tokens=16)
        return item.name, reply.status, chat_reply_problems(reply, 16) if reply.status == 200 else []

    def normal(_: int) -> list[str]:
        with closing(client.naming(client.model)) as own:
            return chat_reply_problems(own.chat(text, max_completion_tokens=16), 16)

    with ThreadPoolExecutor(max_workers=len(items) + 4) as pool:
        odd_futures, normal_futures = pool.map(odd, items), pool.map(normal, range(4))  # all in flight at once
        odd_results, normal_results = list(odd_futures), list(normal_futures)
    refused = {name: status for name, status, _ in odd_results if status != 200}
    record_property("odd_media_refused", ", ".join(f"{n} {s}" for n, s in refused.items()) or "none")
    problems = [f"{name}: {'; '.join(p)}" for name, _, p in odd_results if p]
    problems += [f"a text request sent with them: {'; '.join(p)}" for p in normal_results if p]
    after = chat_reply_problems(client.chat(text, max_completion_tokens=16), 16)
    problems += [f"text after the burst: {'; '.join(after)}"] * bool(after)
    health = client.get("/health").status
    problems += [f"/health answers {health} after the burst"] * (health != 200)
    assert not problems, "; ".join(problems) + (f" (odd media refused: {refused})" if refused else "")
