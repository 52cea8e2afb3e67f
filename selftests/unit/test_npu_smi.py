"""`npu-smi info` parsing, the NPU pre-flight verdicts and telemetry, on the reference layouts."""
from __future__ import annotations

from phi4mm_acceptance.deployment.npu_smi import parse_npu_smi_info
from phi4mm_acceptance.deployment.preflight import npu_problems
from phi4mm_acceptance.deployment.telemetry import TelemetrySampler, npu_samples, nvidia_samples
from selftests.standin_host import SAMPLES


def test_idle_a2_lists_eight_healthy_npus() -> None:
    statuses = parse_npu_smi_info((SAMPLES / "a2-idle.txt").read_text())
    assert sorted(statuses) == list(range(8))
    assert all(s.health == "OK" and s.hbm_total_mb == 65536 and s.hbm_free_mb > 60000 for s in statuses.values())
    assert npu_problems(statuses, tuple(range(8)), 24000) == []


def test_busy_and_unhealthy_npus_are_named() -> None:
    statuses = parse_npu_smi_info((SAMPLES / "a2-two-busy-two-unhealthy.txt").read_text())
    assert (statuses[0].hbm_used_mb, statuses[0].aicore_percent) == (59356, 42)
    assert npu_problems(statuses, (0, 2, 3, 7), 24000) == [
        "NPU 0 has 6180 MB HBM free, the profile needs 24000 MB (59356 MB in use by other processes?)",
        "NPU 3 health is Warning",
        "NPU 7 health is Alarm",
    ]
    assert npu_problems(statuses, (2, 4), 24000) == []


def test_npu_missing_from_the_listing_is_named() -> None:
    statuses = parse_npu_smi_info((SAMPLES / "a2-idle.txt").read_text())
    assert npu_problems(statuses, (9,), 0) == ["NPU 9 is not listed by npu-smi"]


def test_unrelated_text_gives_no_npus() -> None:
    assert parse_npu_smi_info("dcmi module initialize failed. ret is -8005\n") == {}


def test_telemetry_reduces_samples_to_peaks_means_and_health_changes() -> None:

    outputs = iter([(SAMPLES / "a2-idle.txt").read_text(), (SAMPLES / "a2-two-busy-two-unhealthy.txt").read_text()])
    sampler = TelemetrySampler(lambda: next(outputs), npu_samples, (0, 3))
    sampler._sample()
    sampler._sample()
    figures = sampler.figures()
    assert figures["peak_memory_mb_dev0"] == 59356 and figures["mean_utilisation_pct_dev0"] == 21.0
    assert figures["health_changes"] == "device 3: OK -> Warning"
    assert nvidia_samples("0, 15000, 87\n1, 200, 0\n")[0].memory_used_mb == 15000
