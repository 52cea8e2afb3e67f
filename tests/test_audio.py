"""Step 4 for speech: chats with spoken clips, the protocol checks images have (the answers' content is the
audio canary's job, in test_accuracy.py).

Each clip goes by each route vLLM takes audio: `input_audio` (base64 WAV), `audio_url` with a data: URL,
and `audio_url` with an http URL from the local asset server. Clips are 16 kHz mono, as speech models take them.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from phi4mm_acceptance.deployment.profile import Profile
from phi4mm_acceptance.protocol.checks import media_token_problems, stream_and_plain
from phi4mm_acceptance.protocol.client import ChatClient
from phi4mm_acceptance.protocol.media import (
    AssetServer,
    AudioItem,
    audio_message,
    audio_url_part,
    image_part,
    input_audio_part,
    load_manifest,
)

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
    usage, problems = media_token_problems(client, audio_message(clip.question),
                                           audio_message(clip.question, DELIVERIES[delivery](clip, assets)),
                                           profile.chat.length_cap_tokens, "clip")
    assert not problems, "; ".join(problems)
    record_property("audio_prompt_tokens", usage["with"])


@pytest.mark.parametrize("delivery", ["input_audio", "audio_url-data"])
def test_audio_stream_matches_non_stream(client: ChatClient, assets: AssetServer, profile: Profile,
                                         delivery: str) -> None:
    """At temperature 0, with a cache_salt each (no shared prefix cache), the streamed answer and usage equal
    the plain ones, and the stream is framed as vLLM frames it."""
    clip = CLIPS[0]
    compared = stream_and_plain(client, audio_message(clip.question, DELIVERIES[delivery](clip, assets)),
                                profile.chat.max_completion_tokens)
    assert not compared.problems, "; ".join(compared.problems)


@pytest.mark.image
@pytest.mark.parametrize("delivery", ["input_audio", "audio_url-data"])
def test_image_and_audio_in_one_prompt(client: ChatClient, assets: AssetServer, profile: Profile, delivery: str,
                                       record_property: Callable[[str, object], None]) -> None:
    """Phi-4-multimodal takes a picture, speech and text in one prompt: served with vLLM's schema, the picture's
    tokens counted beside the clip's (what POST /tokenize counts), and the reply naming the adapter vLLM applies
    to the mix: the one --default-mm-loras adapter the parts name, none where both do (vllm_api.reply_model_name:
    image_url + input_audio gets the vision adapter up to 0.33, none from 0.34)."""
    audio = DELIVERIES[delivery](CLIPS[0], assets)
    text = "Describe the picture, then transcribe the audio clip."
    mixed = [{"role": "user", "content": [image_part(MANIFEST.image("red-circle").data_url()), audio,
                                          {"type": "text", "text": text}]}]
    usage, problems = media_token_problems(client, audio_message(text, audio), mixed, profile.chat.length_cap_tokens,
                                           f"picture beside the {delivery} clip")
    assert not problems, "; ".join(problems)
    record_property("mixed_prompt_tokens", usage["with"])
