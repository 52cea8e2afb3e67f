"""The server's resident memory, process by process, wherever the target can see its processes.

vLLM serves from several processes: the API server, the engine core and its workers (V1). A leak can sit in
any of them: real vLLM 0.32 on a CPU kept each new image in the engine core's multimodal cache while the API
server's memory stayed flat (shared/reference/vllm-behaviour.md), so the API server's own
`process_resident_memory_bytes` (GET /metrics, all an external server offers) sees none of it. The process
and simulator targets know the server's process group leader, the docker target its container: there every
process of the server is read from /proc (VmRSS).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from docker.errors import DockerException

from phi4mm_acceptance.deployment.endpoint import Endpoint
from phi4mm_acceptance.deployment.launch.base import ProvisioningError
from phi4mm_acceptance.deployment.launch.docker import connect_docker
from phi4mm_acceptance.protocol.client import ChatClient
from phi4mm_acceptance.protocol.vllm_api import resident_memory_mb

PROC = Path("/proc")


class MemoryUnreadable(RuntimeError):
    """The server's memory could not be read: it must not read as "no growth"."""


class MemoryReader(Protocol):
    what: str  # which processes it sees, for the report

    def read(self) -> dict[str, float]:
        """Resident memory in MB by process ("VLLM::EngineCore[1234]")."""


def _status(pid: int) -> dict[str, str]:
    fields = {}
    for line in (PROC / str(pid) / "status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def _children(pid: int) -> list[int]:
    """Direct children, from /proc/PID/task/*/children (every thread's), else by scanning parents."""
    tasks = PROC / str(pid) / "task"
    try:
        found = {int(child) for task in tasks.iterdir()
                 for child in (task / "children").read_text().split()}
        return sorted(found)
    except OSError:
        return [int(p.name) for p in PROC.iterdir() if p.name.isdigit() and _parent(int(p.name)) == pid]


def _parent(pid: int) -> int | None:
    try:
        return int((PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def process_tree(root: int) -> list[int]:
    """The root and all its descendants that are alive now."""
    found, queue = [], [root]
    while queue:
        pid = queue.pop(0)
        found.append(pid)
        queue += _children(pid)
    return found


def resident_mb(pids: list[int]) -> dict[str, float]:
    """VmRSS of each live process, by name and pid; processes that ended meanwhile are left out."""
    memory = {}
    for pid in pids:
        try:
            status = _status(pid)
        except OSError:
            continue
        if "VmRSS" in status:  # kernel threads and zombies have none
            memory[f"{status.get('Name', '?')}[{pid}]"] = int(status["VmRSS"].split()[0]) / 1024
    return memory


@dataclass
class ProcessTreeMemory:
    """Every process descended from the server's leader (process and simulator targets)."""

    root: int
    what: str = "every process of the server (its process tree)"

    def read(self) -> dict[str, float]:
        memory = resident_mb(process_tree(self.root))
        if not memory:
            raise MemoryUnreadable(f"the server's process {self.root} and its children are gone")
        return memory


@dataclass
class ContainerMemory:
    """Every process of the server's container, by the host pids `docker top` lists."""

    container: object  # docker's Container
    what: str = "every process of the server's container"

    def read(self) -> dict[str, float]:
        try:
            top = self.container.top(ps_args="-o pid")  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - docker SDK and API errors alike
            raise MemoryUnreadable(f"docker top failed: {exc}") from None
        pids = [int(row[0]) for row in top.get("Processes") or [] if row and str(row[0]).isdigit()]
        memory = resident_mb(pids)
        if not memory:
            raise MemoryUnreadable(f"none of the container's processes {pids} is readable in this host's /proc")
        return memory


@dataclass
class MetricsMemory:
    """The API server's own figure from GET /metrics: all an external server shows."""

    client: ChatClient
    what: str = "the API server process only (GET /metrics): the engine core is not visible from here"

    def read(self) -> dict[str, float]:
        value = resident_memory_mb(self.client.get("/metrics").text)
        if value is None:
            raise MemoryUnreadable("/metrics has no process_resident_memory_bytes (vLLM leaves it out with "
                                   "--api-server-count > 1)")
        return {"api-server": value}


def memory_reader(endpoint: Endpoint, client: ChatClient) -> MemoryReader:
    """The sharpest reader the target allows: the container's processes, the process tree, else /metrics."""
    container, pid = endpoint.container_name, endpoint.server.pid
    if container:
        try:
            return ContainerMemory(connect_docker().containers.get(container))
        except (ProvisioningError, DockerException) as exc:
            raise MemoryUnreadable(f"container {container}: {exc}") from None
    if pid is not None and os.path.exists(PROC / str(pid)):
        return ProcessTreeMemory(pid)
    return MetricsMemory(client)
