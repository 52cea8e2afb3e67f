"""The simulator's fake model: a snapshot folder with a config and a knowledge file instead of weights.

The knowledge file maps the sha256 of each shipped image or clip to what is in it, so answers about the
suite's own media are right and deterministic; anything else gets a generic answer, as a weak model would.
A known question is also recognised inside a longer prompt (benchmarks wrap questions in instructions).

Quality depends on the serving, as with the real model: without the vision LoRA a share of image questions
goes wrong, without the speech LoRA speech is not transcribed at all, and the accuracy fault makes a chosen
share of all answers wrong. Which answers go wrong is a pure function of the question and media, so a run
is repeatable.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from simulator.media import Audio, Image

BUILTIN_MODEL_DIR = Path(__file__).resolve().parent / "fake_model"
_TOKEN = re.compile(r"\w+|[^\w\s]")
_PIECE = re.compile(r"\s*(?:\w+|[^\w\s])")
MESSAGE_OVERHEAD_TOKENS = 4
NO_VISION_LORA_WRONG_PCT = 40  # about MMMU 55 -> 40 (shared/reference): a deployment mistake the canary must see


def count_text_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


def split_into_tokens(text: str) -> list[str]:
    """Pieces that join back to the text exactly; each is one generated token."""
    return _PIECE.findall(text)


def normalise_question(text: str) -> str:
    return " ".join(text.lower().split())


ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")
ASKED_ITEM = re.compile(rf"\bthe ({'|'.join(ORDINALS)}) (?:of these|image|picture|clip)\b")


COUNT_TO = re.compile(r"\bcount from 1 to (\d+)\b")


def counting(question: str) -> str | None:
    """"Count from 1 to N, one number per line": the model can count."""
    match = COUNT_TO.search(question.lower())
    return "\n".join(str(n) for n in range(1, int(match[1]) + 1)) if match else None


def asked_item(question: str) -> int | None:
    """Which item a question is about ("the second of these images"), as a model reads it; None for all."""
    match = ASKED_ITEM.search(question.lower())
    return ORDINALS.index(match[1]) if match else None


def lookup(answers: dict[str, str], question: str) -> str | None:
    """The answer to the question, or to the longest known question the prompt contains."""
    asked = normalise_question(question)
    if asked in answers:
        return answers[asked]
    contained = [known for known in answers if known in asked]
    return answers[max(contained, key=len)] if contained else None


def unlucky(pct: int, question: str, items: list[Image | Audio]) -> bool:
    """True for a fixed pct% of (question, media) pairs."""
    key = normalise_question(question) + "".join(item.sha256 for item in items)
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 100 < pct


@dataclass(frozen=True)
class Serving:
    """What the serving adds to the weights for one request."""

    vision_lora: bool = True
    speech_lora: bool = True
    wrong_answers_pct: int = 0
    images_out_of_order: bool = False  # a question about the N-th item gets the next item's answer
    answers_every_item: bool = False  # a question about the N-th item gets an answer about all of them


class ModelNotFound(OSError):
    """As vLLM fails when given a local model folder that is not there."""


def hub_cache_dir() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    return Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface") / "hub"


def resolve_model_dir(model: str) -> Path:
    """A local folder; else the hub cache's snapshot (as huggingface_hub lays it out); else the built-in fake
    snapshot, which stands in for the weights wherever none are cached (the simulator needs no download)."""
    path = Path(model)
    if path.is_absolute() or model.startswith("."):
        if (path / "config.json").is_file():
            return path
        raise ModelNotFound(f"Invalid repository ID or local directory specified: '{model}'.")
    repo = hub_cache_dir() / ("models--" + model.replace("/", "--"))
    refs = repo / "refs" / "main"
    if refs.is_file() and (repo / "snapshots" / refs.read_text().strip() / "config.json").is_file():
        return repo / "snapshots" / refs.read_text().strip()
    return BUILTIN_MODEL_DIR


@dataclass
class KnownMedia:
    name: str
    description: str
    answers: dict[str, str] = field(default_factory=dict)

    def answer(self, question: str) -> str:
        return lookup(self.answers, question) or self.description


@dataclass
class FakeModel:
    path: Path
    architecture: str
    media: dict[str, KnownMedia]
    text_answers: dict[str, str]
    generic_media_answer: str
    generic_text_answer: str
    no_speech_lora_answer: str

    @classmethod
    def load(cls, model: str) -> FakeModel:
        """`model` is a snapshot folder or a hub id; a snapshot without a knowledge file uses the built-in one."""
        path = resolve_model_dir(model)
        config = json.loads((path / "config.json").read_text())
        knowledge_file = path / "knowledge.json"
        knowledge = json.loads((knowledge_file if knowledge_file.is_file() else BUILTIN_MODEL_DIR / "knowledge.json")
                               .read_text())
        media = {
            sha: KnownMedia(
                name=item["name"],
                description=item["description"],
                answers={normalise_question(q): a for q, a in item.get("answers", {}).items()},
            )
            for sha, item in knowledge["media"].items()
        }
        media |= {item["speech_sha256"]: media[sha] for sha, item in knowledge["media"].items() if "speech_sha256" in item}
        return cls(
            path=path,
            architecture=config["architectures"][0],
            media=media,
            text_answers={normalise_question(q): a for q, a in knowledge["text"].items()},
            generic_media_answer=knowledge["generic_media_answer"],
            generic_text_answer=knowledge["generic_text_answer"],
            no_speech_lora_answer=knowledge["no_speech_lora_answer"],
        )

    def answer(self, question: str, items: list[Image | Audio], serving: Serving = Serving()) -> str:
        if unlucky(serving.wrong_answers_pct, question, items):
            return self.generic_media_answer if items else self.generic_text_answer
        if not items:
            return lookup(self.text_answers, question) or counting(question) or self.generic_text_answer
        if not serving.speech_lora and any(isinstance(item, Audio) for item in items):
            return self.no_speech_lora_answer
        if not serving.vision_lora and any(isinstance(item, Image) for item in items) \
                and unlucky(NO_VISION_LORA_WRONG_PCT, question, items):
            return self.generic_media_answer
        asked = asked_item(question)
        if asked is not None and asked < len(items) and not serving.answers_every_item:
            items = [items[(asked + serving.images_out_of_order) % len(items)]]
        parts = []
        for item in items:
            known = self.media.get(item.sha256) or self.media.get(getattr(item, "speech_sha256", ""))
            parts.append(known.answer(question) if known else self.generic_media_answer)
        if len(parts) == 1:
            return parts[0]
        return " ".join(f"Item {number}: {part}" for number, part in enumerate(parts, start=1))
