"""The hardware a server runs on, read from its own start-up log, against the hardware its profile certifies."""
from __future__ import annotations

import pytest

from phi4mm_acceptance.deployment.device import DeviceSeen, device_in_log, hardware_mismatch

VLLM_0_32_CPU = ("(EngineCore_DP0 pid=2411) INFO 12-06 16:03:11 [core.py:93] Initializing a V1 LLM engine (v0.32.0) "
                 "with config: model='/tmp/tiny-audio/snapshot', speculative_config=None, tokenizer_mode=auto, "
                 "device_config=cpu, structured_outputs_config=StructuredOutputsConfig(backend='auto')")


def test_the_device_comes_from_the_engine_config_line() -> None:
    assert device_in_log(["INFO starting", VLLM_0_32_CPU]) == DeviceSeen("cpu")
    assert device_in_log([VLLM_0_32_CPU.replace("=cpu", "=npu")]).describe() == "npu"
    unknown = device_in_log(["INFO Started server process [1]"])
    assert unknown.device is None and unknown.describe().startswith("unknown (the server's log has no engine")


@pytest.mark.parametrize(("hardware", "device", "fails"), [
    ("atlas-800i-a2", "cpu", True), ("atlas-800-a3", "cuda", True), ("cuda", "cpu", True),
    ("atlas-800i-a2", "npu", False), ("cuda", "cuda", False), ("cpu", "cpu", False),
    ("simulator", "cpu", False), ("any", "cpu", False),  # no accelerator named: nothing to hold it to
    ("atlas-800i-a2", None, False),  # the log cannot tell: the run says unknown, it does not guess
])
def test_a_server_on_other_hardware_than_its_profile_certifies_is_named(hardware: str, device: str | None,
                                                                        fails: bool) -> None:
    problem = hardware_mismatch(hardware, "p", DeviceSeen(device, "" if device else "no line"))
    assert bool(problem) is fails
    if fails:
        assert f"certifies {hardware}" in problem and f"device_config={device}" in problem
