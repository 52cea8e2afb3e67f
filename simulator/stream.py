"""A streamed chat answer as vLLM sends it: its server-sent events in order, each due at a time."""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulator.chat import ChatPlan


@dataclass(frozen=True)
class Chunk:
    """One event: a chat.completion.chunk, or (no payload) the closing `data: [DONE]`."""

    payload: dict[str, Any] | None = None
    deadline: float | None = None  # the perf_counter time it is due; None: at once
    token: int | None = None  # the index of the generated token it carries

    def encoded(self) -> bytes:
        return b"data: " + (b"[DONE]" if self.payload is None else json.dumps(self.payload).encode()) + b"\n\n"

    def with_choices(self, change: Callable[[dict[str, Any]], dict[str, Any]]) -> Chunk:
        if self.payload is None:
            return self
        return replace(self, payload={**self.payload, "choices": [change(c) for c in self.payload["choices"]]})


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def chunks(plan: ChatPlan, deadlines: list[float], usage: dict[str, Any]) -> Iterator[Chunk]:
    """vLLM 0.11-0.34 chat_completion_stream_generator: a role chunk for each choice first (measured 0.32, n=2),
    then each token's for each choice, the last with the finish_reason; the usage when asked; `data: [DONE]`."""
    ident, created = completion_id(), int(time.time())
    usage_field = {"usage": None} if plan.include_usage else {}

    def chunk(choices: list[dict[str, Any]], tokens: int = 0, **extra: Any) -> dict[str, Any]:
        """`tokens` generated so far: with continuous_usage_stats each choice chunk carries the usage up to it."""
        usage_now = {"usage": {"prompt_tokens": plan.prompt_tokens, "completion_tokens": tokens,
                               "total_tokens": plan.prompt_tokens + tokens}} if plan.continuous_usage else usage_field
        return {"id": ident, "object": "chat.completion.chunk", "created": created, "model": plan.model,
                "choices": choices, **usage_now, **extra}

    def choice(delta: dict[str, Any], finish: str | None = None, index: int = 0) -> list[dict[str, Any]]:
        return [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}]

    first = deadlines[0] if deadlines else None
    for number in range(plan.n):
        yield Chunk(chunk(choice({"role": "assistant", "content": ""}, index=number)), first)
    last = len(plan.pieces) - 1
    for index, piece in enumerate(plan.pieces):
        if not piece and index != last:
            continue  # vLLM sends no delta for a token whose text is held back (a stop string's start)
        finish = plan.finish_reason if index == last else None
        for number in range(plan.n):
            yield Chunk(chunk(choice({"content": piece}, finish, number), index + 1), deadlines[index], index)
    if not plan.pieces:
        for number in range(plan.n):
            yield Chunk(chunk(choice({"content": ""}, plan.finish_reason, number)))
    if plan.include_usage:
        yield Chunk(chunk([], usage=usage))
    yield Chunk()
