"""Verdicts on replies, as lists of problems, so tests assert one thing and show every deviation."""
from __future__ import annotations

from phi4mm_acceptance.client import HttpReply, StreamReply, parse_json
from phi4mm_acceptance.vllm_api import chat_completion_problems, parse_error_body, stream_problems


def describe_error(status: int, text: str) -> str:
    error = parse_error_body(parse_json(text))
    return f"HTTP {status}: {error.message if error else text[:300]!r}"


def chat_reply_problems(reply: HttpReply, max_completion_tokens: int | None) -> list[str]:
    """A chat reply (ChatClient.chat) against vLLM's schema, the model name vLLM gives it, and the cap."""
    if reply.status != 200:
        return [describe_error(reply.status, reply.text)]
    return chat_completion_problems(reply.json, reply.expected_model or "", max_completion_tokens)


def stream_reply_problems(reply: StreamReply, max_completion_tokens: int | None,
                          include_usage: bool = True) -> list[str]:
    if reply.status != 200:
        return [describe_error(reply.status, reply.error_text)]
    problems = [f"line outside SSE `data:` framing: {line[:120]!r}" for line in reply.stray_lines]
    return problems + stream_problems(reply.events, reply.content_type, reply.expected_model or "", include_usage,
                                      max_completion_tokens)


def answer_text(reply: HttpReply) -> str:
    return reply.json["choices"][0]["message"]["content"]

