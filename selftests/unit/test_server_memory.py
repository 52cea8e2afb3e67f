"""The soak's memory readers: every process of a server's tree or container, and a clear error (never a
reading of 0) when nothing can be read."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from phi4mm_acceptance.deployment.endpoint import Endpoint
from phi4mm_acceptance.deployment.launch.base import Server
from phi4mm_acceptance.deployment.server_memory import (
    ContainerMemory,
    MemoryUnreadable,
    MetricsMemory,
    ProcessTreeMemory,
    memory_reader,
    process_tree,
)

# A parent that starts a child holding 50 MB, as vLLM's API server starts its engine core.
PARENT = ("import subprocess, sys, time; child = subprocess.Popen([sys.executable, '-c', "
          "'import time; kept = bytearray(b\"\\\\x01\") * (50 * 2**20); print(1, flush=True); time.sleep(60)'], "
          "stdout=sys.stdout); time.sleep(60)")


def test_the_process_tree_reads_every_process_of_the_server() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == b"1"  # the child holds its 50 MB
        memory = ProcessTreeMemory(parent.pid).read()
        assert len(process_tree(parent.pid)) == 2 and len(memory) == 2, memory
        assert max(memory.values()) > 50 and all(name.startswith("python") for name in memory), memory
    finally:
        os.killpg(parent.pid, 9)
        parent.wait()
    with pytest.raises(MemoryUnreadable, match="are gone"):
        ProcessTreeMemory(parent.pid).read()


class FakeContainer:
    def __init__(self, pids: list[int]) -> None:
        self.pids = pids

    def top(self, ps_args: str) -> dict:
        assert ps_args == "-o pid"
        return {"Titles": ["PID"], "Processes": [[str(pid)] for pid in self.pids]}


def test_a_container_is_read_by_the_host_pids_docker_top_lists() -> None:
    memory = ContainerMemory(FakeContainer([os.getpid(), 2**22 + 7])).read()  # a process that ended is left out
    assert [name.endswith(f"[{os.getpid()}]") for name in memory] == [True] and list(memory.values())[0] > 10
    with pytest.raises(MemoryUnreadable, match="none of the container's processes"):
        ContainerMemory(FakeContainer([2**22 + 7])).read()


def test_the_target_decides_the_reader() -> None:
    local = Server("http://127.0.0.1:1", "m", "process", None, os.getpid(), 1.0)
    external = Server("http://127.0.0.1:1", "m", "external", None, None, None)
    assert isinstance(memory_reader(Endpoint(local), client=None), ProcessTreeMemory)  # type: ignore[arg-type]
    reader = memory_reader(Endpoint(external), client=None)  # type: ignore[arg-type]
    assert isinstance(reader, MetricsMemory) and "engine core is not visible" in reader.what
