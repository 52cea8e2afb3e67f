"""Step 4 for speech: chats with spoken clips, the protocol checks images have (the answers' content is the
audio canary's job, in test_accuracy.py).

Each clip goes by each route vLLM takes audio: `input_audio` (base64 WAV), `audio_url` with a data: URL,
and `audio_url` with an http URL from the local asset server. Clips are 16 kHz mono, as speech models take them.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from phi4mm_acceptance.checks import answer_text, chat_reply_problems, stream_reply_problems
from phi4mm_acceptance.client import ChatClient
from phi4mm_acceptance.media import (
    AssetServer,
    AudioItem,
    audio_message,
    audio_url_part,
    input_audio_part,
    load_manifest,
)
from phi4mm_acceptance.profile import Profile

pytestmark = [pytest.mark.audio, pytest.mark.smoke]
MANIFEST = load_manifest()
CLIPS = MANIFEST.transcription_clips
DELIVERIES: dict[str, Callable[[AudioItem, AssetServer], dict[str, Any]]] = {
    "input_audio": lambda clip, assets: input_audio_part(clip.base64()),
    "audio_url-data": lambda clip, assets: audio_url_part(clip.data_url()),
    "audio_url-http": lambda clip, assets: audio_url_part(assets.url(clip.file)),
}


@pytest.mark.parametrize(("clip", "delivery"), [(clip, d) for clip in CLIPS for d in DELIVERIES],
                         ids=[f"{clip.name}-{d}" for clip in CLIPS for d in DELIVERIES])
def test_audio_chat(client: ChatClient, assets: AssetServer, profile: Profile, clip: AudioItem, delivery: str,
                    record_property: Callable[[str, object], None]) -> None:
    """Served with vLLM's schema; the clip's tokens are in usage: more than the instruction alone, and what
    POST /tokenize counts for the same prompt where the server has it."""
    cap = profile.chat.length_cap_tokens
    usage = {}
    for label, messages in (("text", audio_message(clip.question)),
                            ("audio", audio_message(clip.question, DELIVERIES[delivery](clip, assets)))):
        reply = client.chat(messages, max_completion_tokens=cap)
        problems = chat_reply_problems(reply, cap)
        assert not problems, f"{label}: " + "; ".join(problems)
        usage[label] = reply.json["usage"]["prompt_tokens"]
        counted = client.prompt_tokens(messages)
        assert counted in (None, usage[label]), (
            f"{label}: usage.prompt_tokens is {usage[label]}, POST /tokenize counts {counted} for the same prompt")
    record_property("audio_prompt_tokens", usage["audio"])
    assert usage["audio"] > usage["text"], (
        f"prompt_tokens with the clip ({usage['audio']}) is not above the instruction alone ({usage['text']}): "
        "the server did not feed the audio to the model")


@pytest.mark.parametrize("delivery", ["input_audio", "audio_url-data"])
def test_audio_stream_matches_non_stream(client: ChatClient, assets: AssetServer, profile: Profile,
                                         delivery: str) -> None:
    """At temperature 0, with a cache_salt each (no shared prefix cache), the streamed answer and usage equal
    the plain ones, and the stream is framed as vLLM frames it."""
    clip = CLIPS[0]
    messages = audio_message(clip.question, DELIVERIES[delivery](clip, assets))
    max_tokens = profile.chat.max_completion_tokens
    plain = client.chat(messages, max_completion_tokens=max_tokens, cache_salt=uuid.uuid4().hex)
    problems = chat_reply_problems(plain, max_tokens)
    assert not problems, "non-streamed: " + "; ".join(problems)
    streamed = client.stream_chat(messages, max_completion_tokens=max_tokens, cache_salt=uuid.uuid4().hex)
    problems = stream_reply_problems(streamed, max_tokens)
    assert not problems, "streamed: " + "; ".join(problems)
    assert streamed.content == answer_text(plain), (
        f"streamed answer differs from the non-streamed one at temperature 0:\n"
        f"  streamed: {streamed.content[:200]!r}\n  plain:    {answer_text(plain)[:200]!r}")
    keys = ("prompt_tokens", "completion_tokens", "total_tokens")
    assert [streamed.usage[k] for k in keys] == [plain.json["usage"][k] for k in keys], (
        f"streamed usage {streamed.usage} differs from non-streamed usage {plain.json['usage']}")
