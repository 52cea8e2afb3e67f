"""Faults the simulator can inject, each switched on by one environment variable SIM_FAULT_<NAME>.

The acceptance suite is proven by turning these on one at a time and checking that some test fails
with a message naming the cause. A fault is one class (base.py: its hooks); ALL lists them in the README's order,
which is also the order their hooks run in. `python -m simulator.faults` prints the table kept in the README.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import field, make_dataclass
from typing import Any, Self, TypeVar

from simulator.faults import plan, server, startup, stream, timing
from simulator.faults.base import Fault, env_name

ALL: tuple[type[Fault], ...] = (
    startup.CrashOnStart, startup.HangOnStart, startup.DropStartupLine, startup.ErrorInStartupLog,
    server.Http500Every, plan.IgnoreImages, plan.IgnoreMaxTokens, stream.StreamNoDone, stream.StreamNoRole,
    server.DieAfter, timing.SlowFirstTokenMs, timing.SlowDecodeMs, timing.StallEveryTokens, timing.SerializeRequests,
    server.BadUsage, server.OmitNullFields, stream.UsageInEveryChunk, server.BadRequestAs500,
    server.ErrorBodyWithHttp200, startup.NoMediaLimits, server.WrongMaxModelLen, plan.WrongAnswersPct,
    plan.IgnoreEosUnsupported, plan.ImagesOutOfOrder, plan.MmCacheCollision, plan.PrefixCacheCollision,
    server.EngineStallAfter, stream.StreamOnlyDone, stream.StreamStopLeak, stream.StreamStopFinishLength,
    stream.StreamCutAfterTokens, stream.StreamBrokenMultibyte, plan.CrashOnTinyImage, plan.NoResampler,
    plan.GibberishPastTokens, plan.LoraNotApplied, plan.AudioCrosstalk, plan.EmptyAnswerForLongAudio,
    plan.AnswersEveryItem, plan.LeakPerImageKb, startup.BehavesAsMinor, plan.NIgnored, plan.LogprobsDropLast,
    timing.SlowImagePath, timing.SlowAudioPath, timing.SlowRequestsPct,
)
T = TypeVar("T")


class _FaultsOn:
    """What the switches do; their fields (one a fault, 0 / False: off) come from ALL. The faults switched on are
    built once, so the state they keep (a cache colliding, a leak) lasts as long as the server."""

    on: tuple[Fault, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "on", tuple(fault(value) for fault in ALL if (value := getattr(self, fault.name))))

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Self:
        env = dict(os.environ if env is None else env)
        values: dict[str, int] = {}
        for fault in ALL:
            raw = env.get(env_name(fault.name), "").strip()
            if raw:
                values[fault.name] = raw.lower() not in ("0", "false", "no", "off") if fault.value_type is bool else int(raw)
        return cls(**values)

    def active(self) -> list[str]:
        """Names of the switches that are on, for the start-up log."""
        return [fault.name for fault in self.on]

    def apply(self, hook: Callable[..., T], value: T, *context: Any) -> T:
        """`value` passed through the hook (a method of Fault) of every fault that is on, in turn."""
        for fault in self.on:
            value = getattr(fault, hook.__name__)(value, *context)
        return value

    def notify(self, hook: Callable[..., None], *args: Any) -> None:
        """The hook (a method of Fault) of every fault that is on, called for what it does."""
        for fault in self.on:
            getattr(fault, hook.__name__)(*args)

    @contextmanager
    def generating(self) -> Iterator[None]:
        """Around one request's generation: what the faults that are on hold meanwhile."""
        with ExitStack() as held:
            for fault in self.on:
                held.enter_context(fault.generating())
            yield


Faults = make_dataclass("Faults", [(fault.name, fault.value_type, field(default=fault.value_type())) for fault in ALL],
                        bases=(_FaultsOn,), frozen=True)
Faults.__doc__ = "Switches read once at start-up; 0 / empty means off. `on`: the faults they turn on."


def markdown_table() -> str:
    rows = ["| variable | effect |", "|---|---|"]
    rows += [f"| `{env_name(fault.name)}` | {fault.doc()} |" for fault in ALL]
    return "\n".join(rows)

