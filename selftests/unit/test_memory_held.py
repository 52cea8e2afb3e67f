"""A server a profile certifies on accelerators holds memory on them once ready (the host's tool, before and
after the start)."""
from __future__ import annotations

from pathlib import Path

import pytest

from phi4mm_acceptance.deployment.memory_held import MemoryWatch
from phi4mm_acceptance.deployment.telemetry import npu_samples, nvidia_samples

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "npu-smi"


def npu_watch(after: str, devices: tuple[int, ...] = (0, 3)) -> MemoryWatch:
    readings = iter([(SAMPLES / "a2-idle.txt").read_text(), (SAMPLES / after).read_text()])
    watch = MemoryWatch(lambda: next(readings), npu_samples, devices, "NPU")
    watch.read_before_start()
    return watch


def test_a_server_holding_its_npus_memory_passes() -> None:
    assert npu_watch("a2-serving.txt").problem_once_ready() is None


def test_npus_that_gained_nothing_are_named_with_their_readings() -> None:
    problem = npu_watch("a2-idle.txt").problem_once_ready()
    assert problem is not None and "on the NPUs it was given" in problem
    assert "NPU 0 3318 -> 3318 MB, NPU 3 3316 -> 3316 MB" in problem and "this run certifies nothing" in problem


def test_one_npu_of_several_holding_the_server_is_enough() -> None:
    """Tensor parallel 1 on eight mapped NPUs: only the first holds the model (NPU 0, 1 in this sample)."""
    assert npu_watch("a2-two-busy-two-unhealthy.txt", devices=tuple(range(8))).problem_once_ready() is None


@pytest.mark.parametrize(("after", "problem"), [("0, 40213, 0\n1, 3, 0\n", False), ("0, 3, 0\n1, 3, 0\n", True)],
                         ids=["gpu-0-holds-it", "no-gpu-gained"])
def test_gpus_are_read_by_nvidia_smi_alike(after: str, problem: bool) -> None:
    readings = iter(["0, 3, 0\n1, 3, 0\n", after])  # --query-gpu=index,memory.used,utilization.gpu csv
    watch = MemoryWatch(lambda: next(readings), nvidia_samples, (0, 1), "GPU")
    watch.read_before_start()
    found = watch.problem_once_ready()
    assert (found is not None) == problem
    assert not problem or "GPU 0 3 -> 3 MB, GPU 1 3 -> 3 MB" in (found or "")


@pytest.mark.parametrize("case", ["nothing-read-before", "tool-fails-after"])
def test_nothing_to_compare_is_no_verdict(case: str) -> None:
    def fails() -> str:
        raise RuntimeError("`npu-smi info` failed with exit code 1")
    if case == "nothing-read-before":
        watch = MemoryWatch(lambda: (SAMPLES / "a2-idle.txt").read_text(), npu_samples, (0,), "NPU")
        assert watch.problem_once_ready() is None
    else:
        watch = npu_watch("a2-idle.txt")
        watch.read = fails
        assert watch.problem_once_ready() is None
