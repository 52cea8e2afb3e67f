"""Judging a long counting answer, one number a line, streamed with vLLM's `min_tokens`: output past Phi-4's
4,096-token LongRoPE switch (vllm#19489)."""
from __future__ import annotations

from phi4mm_acceptance.protocol.checks import stream_reply_problems
from phi4mm_acceptance.protocol.client import StreamReply


def min_tokens_problems(reply: StreamReply, cap: int, at_least: int) -> list[str]:
    """The stream well formed and at least `at_least` tokens long (what min_tokens asked for)."""
    problems = stream_reply_problems(reply, cap)
    generated = (reply.usage or {}).get("completion_tokens", 0) if not problems else 0
    if not problems and generated < at_least:
        problems.append(f"the answer ended ({reply.finish_reason}) after {generated} tokens, though min_tokens "
                        f"asked for {at_least}")
    return problems


def first_miscounted_line(lines: list[str], cut: bool) -> int | None:
    """The index of the first line that is not the next number (counting from 1), or None; with `cut` (the
    answer stopped at its length cap) a last line that starts the next number is not wrong."""
    return next((i for i, line in enumerate(lines) if line.strip() != str(i + 1)
                 and not (cut and i == len(lines) - 1 and str(i + 1).startswith(line.strip()))), None)
