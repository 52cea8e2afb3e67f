"""The built-in accuracy canary: questions with known answers about the shipped images and spoken clips.

Seconds, not hours: it runs in smoke and catches the common deployment mistake of serving Phi-4-multimodal
without its vision/speech LoRA adapters, which AISBench would only reveal in the nightly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from phi4mm_acceptance.accuracy.scoring import vqa_correct
from phi4mm_acceptance.protocol.checks import greedy_answer
from phi4mm_acceptance.protocol.client import ChatClient
from phi4mm_acceptance.protocol.media import AudioItem, ImageItem, Manifest, audio_message, audio_url_part, user_message

CANARY_MAX_TOKENS = 64  # a short answer: a word, a number, a sentence


@dataclass(frozen=True)
class CanaryAnswer:
    item: str
    question: str
    answer: str
    correct: bool

    def describe(self) -> str:
        return f"{self.item}: {self.question!r} -> {self.answer[:80]!r}"


def image_questions(manifest: Manifest) -> list[tuple[ImageItem, str, tuple[str, ...]]]:
    """Every (image, question, accepted answers) of the canary."""
    return [(item, ask.question, ask.accepted) for item in manifest.images for ask in item.canary]


def image_messages(item: ImageItem, question: str) -> list[dict[str, Any]]:
    return user_message(question, item.data_url())


def audio_messages(clip: AudioItem) -> list[dict[str, Any]]:
    """The clip inline as an `audio_url` (a base64 WAV data: URL), then the instruction, as Phi-4-multimodal's
    ASR prompt. Not `input_audio`: vLLM 0.11-0.33 picks a --default-mm-loras adapter by the content part's
    type up to its first "_", so `input_audio` ("input") never gets the speech LoRA there (vllm_api.part_kind)."""
    return audio_message(clip.question, audio_url_part(clip.data_url()))


def share_right(answers: list[CanaryAnswer]) -> float:
    return sum(a.correct for a in answers) / len(answers) if answers else 0.0


def image_canary(client: ChatClient, manifest: Manifest) -> list[CanaryAnswer]:
    """Every canary image question asked of `client` (whose requests name the model or an adapter), scored."""
    return [CanaryAnswer(item.name, question, reply, vqa_correct(reply, accepted))
            for item, question, accepted in image_questions(manifest)
            for reply in [greedy_answer(client, image_messages(item, question), CANARY_MAX_TOKENS)]]
