"""Whether a streamed answer tells the plain one's text: no split multi-byte character, and a stop string
honoured by both (vllm#8468, #8627; vllm-ascend#12030). The comparison itself is checks.stream_and_plain."""
from __future__ import annotations

from phi4mm_acceptance.protocol.checks import StreamedAndPlain


def finish_reasons(compared: StreamedAndPlain) -> dict[str, str | None]:
    return {"plain": compared.plain.json["choices"][0]["finish_reason"],
            "streamed": compared.streamed.finish_reason if compared.streamed else None}


def stream_text_problems(text: str, finishes: dict[str, str | None], unstopped: str = "",
                         stop: str | None = None) -> list[str]:
    """The plain answer `text` holds no U+FFFD; with `stop` (a string of the `unstopped` answer) it ends right
    before the stop's first occurrence there, with finish_reason "stop" plain and streamed (`finishes`)."""
    if "\ufffd" in text:
        return [f"the plain answer holds U+FFFD (a split multi-byte character): {text[:200]!r}"]
    if stop is None:
        return []
    expected = unstopped[:unstopped.index(stop)]
    if text == expected and set(finishes.values()) == {"stop"}:
        return []
    return [f"with stop {stop!r} the answer should end right before its first occurrence ({expected[-60:]!r}, "
            f"finish_reason 'stop' plain and streamed); got {text[-60:]!r}, finish_reason {finishes}"]
