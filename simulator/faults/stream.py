"""Faults of streaming: the chunks a stream holds, and what they say."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from simulator.faults.base import Fault
from simulator.stream import Chunk

if TYPE_CHECKING:
    from simulator.chat import ChatPlan


class StreamNoDone(Fault):
    """streams end without `data: [DONE]`"""
    name, category = "stream_no_done", "stream"

    def stream(self, chunks: Iterator[Chunk], plan: ChatPlan, usage: dict[str, Any]) -> Iterator[Chunk]:
        return (chunk for chunk in chunks if chunk.payload is not None)


class StreamNoRole(Fault):
    """the first stream delta carries no `role`"""
    name, category = "stream_no_role", "stream"

    def stream(self, chunks: Iterator[Chunk], plan: ChatPlan, usage: dict[str, Any]) -> Iterator[Chunk]:
        return (chunk.with_choices(lambda choice: {**choice, "delta": {
            key: value for key, value in choice["delta"].items() if key != "role"}}) for chunk in chunks)


class UsageInEveryChunk(Fault):
    """every stream chunk carries usage, though only include_usage was asked (that is continuous_usage_stats)"""
    name, category = "usage_in_every_chunk", "stream"

    def stream(self, chunks: Iterator[Chunk], plan: ChatPlan, usage: dict[str, Any]) -> Iterator[Chunk]:
        if plan.continuous_usage:  # asked for: the usage up to each chunk
            return chunks
        return (replace(chunk, payload={**chunk.payload, "usage": usage}) if chunk.payload is not None else chunk
                for chunk in chunks)


class StreamOnlyDone(Fault):
    """streams hold only `data: [DONE]` (vllm#40986)"""
    name, category = "stream_only_done", "stream"

    def stream(self, chunks: Iterator[Chunk], plan: ChatPlan, usage: dict[str, Any]) -> Iterator[Chunk]:
        return iter([Chunk()])


class StreamStopLeak(Fault):
    """a stream ended by a stop string leaks the stop string's first character (vllm#8468)"""
    name, category = "stream_stop_leak", "vLLM bug history"

    def stream(self, chunks: Iterator[Chunk], plan: ChatPlan, usage: dict[str, Any]) -> Iterator[Chunk]:
        if not plan.stop_reason:
            return chunks
        leaked = plan.stop_reason[0]
        last = len(plan.pieces) - 1
        return (chunk.with_choices(lambda choice: {**choice, "delta": {
            **choice["delta"], "content": choice["delta"]["content"] + leaked}}) if chunk.token == last else chunk
            for chunk in chunks)


class StreamStopFinishLength(Fault):
    """a stream ended by a stop string says finish_reason "length" (the plain reply says "stop")"""
    name, category = "stream_stop_finish_length", "vLLM bug history"

    def stream(self, chunks: Iterator[Chunk], plan: ChatPlan, usage: dict[str, Any]) -> Iterator[Chunk]:
        if not plan.stop_reason:
            return chunks
        return (chunk.with_choices(lambda choice: {**choice, "finish_reason": "length"}
                                   if choice["finish_reason"] else choice) for chunk in chunks)


class StreamCutAfterTokens(Fault):
    """N: a stream ends after N tokens, without finish_reason, usage or `data: [DONE]`"""
    name, category = "stream_cut_after_tokens", "vLLM bug history"
    value_type = int

    def stream(self, chunks: Iterator[Chunk], plan: ChatPlan, usage: dict[str, Any]) -> Iterator[Chunk]:
        for chunk in chunks:
            if chunk.token is not None and chunk.token >= self.value:
                return  # the stream just ends
            yield chunk


class StreamBrokenMultibyte(Fault):
    """streams carry U+FFFD for every CJK character and emoji (vllm#8627)"""
    name, category = "stream_broken_multibyte", "vLLM bug history"

    def stream(self, chunks: Iterator[Chunk], plan: ChatPlan, usage: dict[str, Any]) -> Iterator[Chunk]:
        return (chunk.with_choices(lambda choice: {**choice, "delta": {
            key: "".join("\ufffd" if ord(c) >= 0x2E80 else c for c in value) if key == "content" else value
            for key, value in choice["delta"].items()}}) for chunk in chunks)
