"""Whether each transcript is its own clip's and not another's: crosstalk between parallel speech requests
(vllm#47459, #24052)."""
from __future__ import annotations

from phi4mm_acceptance.accuracy.scoring import corpus_wer
from phi4mm_acceptance.protocol.media import AudioItem


def transcript_problem(clip: AudioItem, what: str, text: str, clips: list[AudioItem]) -> str | None:
    """A transcript is its clip's when it is strictly nearer that clip's words than any other clip's (word error
    rate): an empty (or equally distant) transcript is nobody's."""
    distance = {other.name: corpus_wer([(other.transcript, text)]) for other in clips}
    nearest = min(distance.values())
    if not text.strip():
        return f"{what} got an empty transcript"
    if distance[clip.name] > nearest or list(distance.values()).count(nearest) > 1:
        closest = [name for name, value in distance.items() if value == nearest]
        return f"{what} got {text[:100]!r}, nearest {' and '.join(closest)}'s words"
    return None


def crosstalk_problems(transcripts: list[tuple[AudioItem, str, str]], clips: list[AudioItem]) -> list[str]:
    """transcript_problem of each (clip, what was sent, transcript)."""
    return [problem for clip, what, text in transcripts if (problem := transcript_problem(clip, what, text, clips))]
