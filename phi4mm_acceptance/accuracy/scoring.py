"""Scoring answers the way the benchmarks do: VQA answer normalisation and word error rate."""
from __future__ import annotations

import re
from collections.abc import Iterable

import jiwer
from whisper_normalizer.english import EnglishTextNormalizer

NUMBER_WORDS = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
                "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
ARTICLES = {"a", "an", "the"}
_WHISPER_ENGLISH = EnglishTextNormalizer()
_PUNCTUATION = re.compile(r"(?!(?<=\d)\.(?=\d))[^\w\s]")  # keeps decimal points, as the VQA evaluator does


def vqa_normalise(text: str) -> str:
    """The VQA evaluation's answer processing: lower case, punctuation out, number words as digits, no
    articles, single spaces."""
    words = _PUNCTUATION.sub(" ", text.lower()).split()
    return " ".join(NUMBER_WORDS.get(word, word) for word in words if word not in ARTICLES)


def vqa_correct(answer: str, accepted: Iterable[str]) -> bool:
    """Exact match after normalisation against any accepted answer."""
    return vqa_normalise(answer) in {vqa_normalise(a) for a in accepted}


def corpus_wer(pairs: Iterable[tuple[str, str]]) -> float:
    """Total word errors over total reference words, as ASR leaderboards report WER, after Whisper's English
    text normaliser on both sides: the normalisation behind published figures such as the model card's
    OpenASR 6.14% ("harbour" = "harbor", "eight" = "8", punctuation and case out). jiwer counts the errors."""
    normalised = [(_WHISPER_ENGLISH(reference), _WHISPER_ENGLISH(hypothesis)) for reference, hypothesis in pairs]
    references = [reference for reference, _ in normalised]
    if not any(references):
        return 0.0
    output = jiwer.process_words(references, [hypothesis for _, hypothesis in normalised])
    return (output.substitutions + output.deletions + output.insertions) / sum(len(r.split()) for r in references)
