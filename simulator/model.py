"""The simulator's fake model: a snapshot folder with a config and a knowledge file instead of weights.

The knowledge file maps the sha256 of each shipped image or clip to what is in it, so answers about the
suite's own media are right and deterministic; anything else gets a generic answer, as a weak model would.
"""
from __future__ import annotations

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


def count_text_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


def split_into_tokens(text: str) -> list[str]:
    """Pieces that join back to the text exactly; each is one generated token."""
    return _PIECE.findall(text)


def normalise_question(text: str) -> str:
    return " ".join(text.lower().split())


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
        return self.answers.get(normalise_question(question), self.description)


@dataclass
class FakeModel:
    path: Path
    architecture: str
    media: dict[str, KnownMedia]
    text_answers: dict[str, str]
    generic_media_answer: str
    generic_text_answer: str

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
        return cls(
            path=path,
            architecture=config["architectures"][0],
            media=media,
            text_answers={normalise_question(q): a for q, a in knowledge["text"].items()},
            generic_media_answer=knowledge["generic_media_answer"],
            generic_text_answer=knowledge["generic_text_answer"],
        )

    def answer(self, question: str, items: list[Image | Audio]) -> str:
        if not items:
            return self.text_answers.get(normalise_question(question), self.generic_text_answer)
        parts = []
        for item in items:
            known = self.media.get(item.sha256)
            parts.append(known.answer(question) if known else self.generic_media_answer)
        if len(parts) == 1:
            return parts[0]
        return " ".join(f"Item {number}: {part}" for number, part in enumerate(parts, start=1))
