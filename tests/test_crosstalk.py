"""Parallel requests crossing into each other: speech of mixed lengths transcribed all at once (vllm#47459,
#24052). Each transcript must be its own clip's; a model that answers every prompt alike is named as such."""
from __future__ import annotations

import base64
from collections.abc import Callable
from functools import partial

import pytest

from phi4mm_acceptance.accuracy.canary import CANARY_MAX_TOKENS
from phi4mm_acceptance.accuracy.own_transcript import crosstalk_problems
from phi4mm_acceptance.deployment.profile import Profile
from phi4mm_acceptance.protocol.checks import greedy_answer
from phi4mm_acceptance.protocol.client import ChatClient
from phi4mm_acceptance.protocol.flat_answers import answers_every_prompt_alike, mixup_failure
from phi4mm_acceptance.protocol.media import AudioItem, audio_message, audio_url_part, load_manifest
from phi4mm_acceptance.protocol.odd_media import padded_with_silence
from phi4mm_acceptance.protocol.parallel import all_at_once

MANIFEST = load_manifest()
RecordProperty = Callable[[str, object], None]
PADDING_S = (0.0, 26.0)  # the clips as they are (2-4 s) and padded to 28-30 s


def transcribe(clip: AudioItem, pad: float, client: ChatClient) -> str:
    """The clip padded with `pad` seconds of silence, transcribed at temperature 0."""
    url = "data:audio/wav;base64," + base64.b64encode(padded_with_silence(clip.path.read_bytes(), pad)).decode()
    return greedy_answer(client, audio_message(clip.question, audio_url_part(url)), CANARY_MAX_TOKENS)


@pytest.mark.defect("vllm#47459")
@pytest.mark.nightly
@pytest.mark.audio
def test_parallel_speech_of_mixed_lengths_gets_each_its_own_transcript(client: ChatClient, profile: Profile,
                                                                       record_property: RecordProperty) -> None:
    """The spoken clips, as they are and padded to 28-30 s, all at once: every request succeeds and each
    transcript is nearest its own clip's words (own_transcript.crosstalk_problems; vllm#47459)."""
    clips = MANIFEST.transcription_clips
    jobs = [(clip, pad) for pad in PADDING_S for clip in clips]
    transcripts = all_at_once(client, [partial(transcribe, clip, pad) for clip, pad in jobs])
    wrong = crosstalk_problems([(clip, f"{clip.name} (+{pad:g} s silence)", text)
                                for (clip, pad), text in zip(jobs, transcripts)], clips)
    record_property("parallel_speech_requests", len(jobs))
    if wrong:
        found = f"{len(wrong)} of {len(jobs)} concurrent speech requests got another clip's transcript or none: " \
                f"{'; '.join(wrong)}"
        raise mixup_failure(found, answers_every_prompt_alike(client, MANIFEST, profile.chat.max_completion_tokens),
                            "crosstalk", "hear", "audio of one request crossing into another's (vllm#47459)")
