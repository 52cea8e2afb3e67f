"""A fault: one class, switched on by SIM_FAULT_<NAME>, acting through the hooks of the phases it breaks.

Every hook is a no-op here; a fault overrides only the ones it needs, so the simulator asks the faults that are
on at each point (Faults.apply, Faults.notify) and never names one. The hooks, by phase:
start-up (cli): configure, loading, uvicorn_lines; the prompt (chat and /tokenize): prompt_media; the plan (chat):
engine_media, serving, answer, tokens, sampling, plan; serving a chat (server): received, planned, generating,
slowdown, deadlines, answered; replies: error, error_status, listed_max_model_len, usage, completion, stream.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from simulator.chat import ChatPlan, Prompt, Sampling, ServingLimits
    from simulator.errors import ApiError
    from simulator.media import Audio, Image
    from simulator.model import Serving
    from simulator.stream import Chunk
    from simulator.timing import Slowdown


def env_name(name: str) -> str:
    return "SIM_FAULT_" + name.upper()


@dataclass
class Fault:
    """Its docstring is its line in the README's table; `value` is the switch's: True, or the number it sets."""

    name: ClassVar[str]
    category: ClassVar[str]  # the detection matrix's kind: startup, chat, stream, server, performance, ...
    value_type: ClassVar[type[int]] = bool  # a switch (bool) or a number (int); 0 / empty is off either way

    value: int

    @classmethod
    def doc(cls) -> str:
        return " ".join((cls.__doc__ or "").split())

    # start-up
    def configure(self, limits: ServingLimits) -> ServingLimits:
        return limits

    def loading(self, stop: threading.Event) -> None:
        """While the weights load, before the server comes up; `stop` is set by SIGTERM or SIGINT."""

    def uvicorn_lines(self, lines: list[str]) -> list[str]:
        return lines

    # the prompt
    def prompt_media(self, items: list[Image | Audio]) -> list[Image | Audio]:
        return items

    # the plan
    def engine_media(self, items: list[Image | Audio]) -> list[Image | Audio]:
        return items

    def serving(self, serving: Serving) -> Serving:
        return serving

    def answer(self, answer: str, prompt: Prompt) -> str:
        return answer

    def tokens(self, pieces: list[str], prompt: Prompt) -> list[str]:
        return pieces

    def sampling(self, sampling: Sampling) -> Sampling:
        return sampling

    def plan(self, plan: ChatPlan) -> ChatPlan:
        return plan

    # serving a chat request, numbered from 1 as it arrives
    def received(self, number: int) -> None:
        """Before the request is planned."""

    def planned(self, number: int) -> None:
        """Planned, before generation starts."""

    def generating(self) -> AbstractContextManager[object]:
        """Held around one request's generation."""
        return nullcontext()

    def slowdown(self, slowdown: Slowdown, number: int) -> Slowdown:
        return slowdown

    def deadlines(self, deadlines: list[float]) -> list[float]:
        return deadlines

    def answered(self, number: int) -> None:
        """After the reply was sent."""

    # replies
    def error(self, error: ApiError) -> ApiError:
        return error

    def error_status(self, status: int, error: ApiError) -> int:
        """The HTTP status the error is answered with."""
        return status

    def listed_max_model_len(self, max_model_len: int) -> int:
        return max_model_len

    def usage(self, usage: dict[str, Any]) -> dict[str, Any]:
        return usage

    def completion(self, reply: dict[str, Any]) -> dict[str, Any]:
        return reply

    def stream(self, chunks: Iterator[Chunk], plan: ChatPlan, usage: dict[str, Any]) -> Iterator[Chunk]:
        """The stream's chunks in order, each sent at its deadline."""
        return chunks
