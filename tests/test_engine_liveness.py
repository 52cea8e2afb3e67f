"""The engine keeps serving: not stuck behind healthy probes (vllm#39863, #17972), not taken down by one odd
item (vllm#55546, #15404)."""
from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from fixtures.outcomes import not_applicable
from phi4mm_acceptance.deployment.profile import Profile
from phi4mm_acceptance.protocol.burst import burst_problems, refused
from phi4mm_acceptance.protocol.checks import probe_statuses, stream_reply_problems
from phi4mm_acceptance.protocol.client import ChatClient, HttpReply, TokenStall
from phi4mm_acceptance.protocol.media import audio_url_part, load_manifest, user_message
from phi4mm_acceptance.protocol.modalities import Served
from phi4mm_acceptance.protocol.odd_media import odd_media
from phi4mm_acceptance.protocol.parallel import all_at_once

MANIFEST = load_manifest()
RecordProperty = Callable[[str, object], None]
TEXT = [{"role": "user", "content": "Name three colours."}]
BURST_TOKENS = 16


def served(served_modalities: dict[str, Served]) -> set[str]:
    """The modalities the profile lets through and the server takes (fixtures/serving.py asks it)."""
    return {modality for modality, probe in served_modalities.items() if probe.served is not False}


def warm_up_messages(modalities: set[str]) -> list[dict[str, Any]]:
    """A multimodal request of a modality the profile serves (image first), to warm the engine up."""
    if "image" in modalities:
        return user_message(MANIFEST.describe_question, MANIFEST.image("red-circle").data_url())
    clip = MANIFEST.transcription_clips[0]
    return [{"role": "user", "content": [audio_url_part(clip.data_url()),
                                         {"type": "text", "text": clip.question}]}]


@pytest.mark.defect("vllm#39863", "vllm#17972")
@pytest.mark.smoke
def test_engine_answers_within_the_token_deadline_after_multimodal_warmup(
        client: ChatClient, profile: Profile, served_modalities: dict[str, Served],
        record_property: RecordProperty) -> None:
    """After a multimodal warm-up a tiny streamed completion must finish, no token later than max_token_gap_s;
    a stall names what the probes answered meanwhile (vllm#39863, #17972)."""
    gap = profile.chat.max_token_gap_s
    try:
        for messages, cap in ((warm_up_messages(served(served_modalities)), 8),
                              ([{"role": "user", "content": "Say OK."}], 2)):
            reply = client.stream_chat(messages, max_completion_tokens=cap, token_gap_s=gap)
            problems = stream_reply_problems(reply, cap)
            assert not problems, "; ".join(problems)
    except TokenStall as stall:
        raise AssertionError(f"{stall}; meanwhile {probe_statuses(client)}: the probes say healthy while chat "
                             "is stuck") from None
    record_property("max_token_gap_ms", round(max(reply.gaps_ms(), default=0.0), 1))


def chat(messages: list[dict[str, Any]], client: ChatClient) -> HttpReply:
    return client.chat(messages, max_completion_tokens=BURST_TOKENS)


@pytest.mark.defect("vllm#55546", "vllm#15404")
@pytest.mark.smoke
def test_odd_media_fail_alone_and_the_server_keeps_serving(client: ChatClient, profile: Profile,
                                                          served_modalities: dict[str, Served],
                                                          record_property: RecordProperty) -> None:
    """Odd but valid media (tiny and huge images, 8-48 kHz, stereo) sent at once with text: each served or
    refused alone with a 4xx, the text served, the server serving after (burst.burst_problems; vllm#55546)."""
    items = odd_media(served(served_modalities))
    if not items:
        not_applicable(f"profile {profile.name!r} serves neither images nor audio")
    odd_calls = [partial(chat, [{"role": "user", "content": [item.part, {"type": "text", "text": "What is this?"}]}])
                 for item in items]
    replies = all_at_once(client, [*odd_calls, *[partial(chat, TEXT)] * 4])
    odd = {item.name: reply for item, reply in zip(items, replies)}
    refusals = refused(odd)
    record_property("odd_media_refused", ", ".join(f"{n} {s}" for n, s in refusals.items()) or "none")
    problems = burst_problems(odd, replies[len(items):], chat(TEXT, client), client.get("/health").status,
                              BURST_TOKENS)
    assert not problems, "; ".join(problems) + (f" (odd media refused: {refusals})" if refusals else "")
