"""Scoring answers the way the benchmarks do: VQA answer normalisation and word error rate."""
from __future__ import annotations

import re
from collections.abc import Iterable

NUMBER_WORDS = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
                "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
ARTICLES = {"a", "an", "the"}
_PUNCTUATION = re.compile(r"(?!(?<=\d)\.(?=\d))[^\w\s]")  # keeps decimal points, as the VQA evaluator does


def vqa_normalise(text: str) -> str:
    """The VQA evaluation's answer processing: lower case, punctuation out, number words as digits, no
    articles, single spaces."""
    words = _PUNCTUATION.sub(" ", text.lower()).split()
    return " ".join(NUMBER_WORDS.get(word, word) for word in words if word not in ARTICLES)


def vqa_correct(answer: str, accepted: Iterable[str]) -> bool:
    """Exact match after normalisation against any accepted answer."""
    return vqa_normalise(answer) in {vqa_normalise(a) for a in accepted}


def asr_words(text: str) -> list[str]:
    """Words for WER: lower case, punctuation out (apostrophes kept inside words)."""
    return re.sub(r"[^\w\s']|(?<!\w)'|'(?!\w)", " ", text.lower()).split()


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(substitutions + deletions + insertions, reference word count): Levenshtein distance over words."""
    ref, hyp = asr_words(reference), asr_words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, start=1):
        previous, row[0] = row[0], i
        for j, hyp_word in enumerate(hyp, start=1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ref_word != hyp_word))
    return row[-1], len(ref)


def corpus_wer(pairs: Iterable[tuple[str, str]]) -> float:
    """Total word errors over total reference words, as ASR leaderboards report WER."""
    errors = words = 0
    for reference, hypothesis in pairs:
        e, n = word_errors(reference, hypothesis)
        errors, words = errors + e, words + n
    return errors / words if words else 0.0
