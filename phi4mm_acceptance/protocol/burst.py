"""Judging a burst of odd but valid media sent together with text requests: each odd item served or refused on
its own, every text request served, and the server still serving afterwards (vllm#55546, #15404)."""
from __future__ import annotations

from phi4mm_acceptance.protocol.checks import chat_reply_problems, describe_error
from phi4mm_acceptance.protocol.client import HttpReply
from phi4mm_acceptance.protocol.vllm_api import parse_error_body


def refusal_problems(reply: HttpReply) -> list[str]:
    """A refusal of valid media: a 4xx whose body is vLLM's error object with `code` the status (0.10.1+)."""
    if reply.status >= 500:
        return [f"valid media answered with a server error: {describe_error(reply.status, reply.text)}"]
    error = parse_error_body(reply.json)
    if error is None or error.code != reply.status:
        return [f"HTTP {reply.status} without vLLM's error body ({{\"error\": {{message, type, param, code}}}}, code "
                f"the status): {reply.text[:200]!r}"]
    return []


def burst_problems(odd: dict[str, HttpReply], text: list[HttpReply], after: HttpReply, health: int,
                   cap: int) -> list[str]:
    """Each odd item's reply (by name) well formed or a refusal, each text reply sent with them well formed,
    and after the burst a text reply well formed and /health 200."""
    problems = [f"{name}: {'; '.join(p)}" for name, reply in odd.items()
                if (p := chat_reply_problems(reply, cap) if reply.status == 200 else refusal_problems(reply))]
    problems += [f"a text request sent with them: {'; '.join(p)}" for reply in text
                 if (p := chat_reply_problems(reply, cap))]
    if later := chat_reply_problems(after, cap):
        problems.append(f"text after the burst: {'; '.join(later)}")
    if health != 200:
        problems.append(f"/health answers {health} after the burst")
    return problems


def refused(odd: dict[str, HttpReply]) -> dict[str, int]:
    """The odd items refused, with their status."""
    return {name: reply.status for name, reply in odd.items() if reply.status != 200}
