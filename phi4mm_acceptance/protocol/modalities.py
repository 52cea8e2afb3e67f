"""Which media the server under test takes, asked of the server itself rather than assumed from the profile.

vLLM's --limit-mm-per-prompt leaves any modality it does not name at 999, but a model without that modality
still takes none ("At most 0 audio(s) may be provided in one prompt."). POST /tokenize with chat messages runs
the same multimodal processing as the chat endpoint (media tokens included), so one small item per modality
tells, without generating anything; on releases whose /tokenize must not be sent media
(vllm_api.tokenize_may_see_media) a one-token chat asks instead.
"""
from __future__ import annotations

from dataclasses import dataclass

from phi4mm_acceptance.protocol.client import ChatClient
from phi4mm_acceptance.protocol.media import Manifest, audio_url_part, image_part
from phi4mm_acceptance.protocol.releases import release_of
from phi4mm_acceptance.protocol.vllm_api import parse_error_body, tokenize_may_see_media

NONE_TAKEN = "At most 0 "  # vLLM's refusal of a modality the model has no input for (0.11-0.33)


@dataclass(frozen=True)
class Served:
    served: bool | None  # None: the server could not say (no /tokenize, another error)
    evidence: str


def probe_modality(client: ChatClient, manifest: Manifest, modality: str) -> Served:
    part = (image_part(manifest.image("tiny-28px").data_url()) if modality == "image"
            else audio_url_part(manifest.transcription_clips[0].data_url()))
    messages = [{"role": "user", "content": [part, {"type": "text", "text": "What is this?"}]}]
    if tokenize_may_see_media(release_of(client.server_version)):
        asked, reply = "POST /tokenize", client.post_json("/tokenize", {"model": client.model, "messages": messages})
    else:
        asked, reply = "a one-token chat", client.chat(messages, max_completion_tokens=1)
    if reply.status == 200:
        return Served(True, f"{asked} took one {modality} item")
    error = parse_error_body(reply.json)
    message = error.message if error else reply.text[:200]
    return Served(False if reply.status == 400 and NONE_TAKEN in message else None,
                  f"{asked} with one {modality} item answers {reply.status} {message!r}")
