"""Requests all in flight at once, each on a client of its own (its own connections, so it may run in a thread)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from typing import TypeVar

from phi4mm_acceptance.protocol.client import ChatClient

T = TypeVar("T")


def all_at_once(client: ChatClient, calls: Sequence[Callable[[ChatClient], T]]) -> list[T]:
    """Each call run in a thread of its own with a client of its own naming `client`'s model, all started
    together; their results in the calls' order (a call that raises raises here)."""
    def run(call: Callable[[ChatClient], T]) -> T:
        with closing(client.naming(client.model)) as own:
            return call(own)

    with ThreadPoolExecutor(max_workers=max(1, len(calls))) as pool:
        return list(pool.map(run, calls))
