"""Memory that grew with every new image (vllm#15294): the server's resident memory over a soak of distinct
images, after a warm-up that fills vLLM's multimodal cache (it keeps every processed image until full)."""
from __future__ import annotations

import warnings
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import pytest

from phi4mm_acceptance.deployment.endpoint import Endpoint
from phi4mm_acceptance.deployment.memory_growth import growth_by_process, soak_growth
from phi4mm_acceptance.deployment.profile import Profile
from phi4mm_acceptance.deployment.server_memory import MetricsMemory, memory_reader
from phi4mm_acceptance.deployment.settings import RunSettings
from phi4mm_acceptance.deployment.telemetry import sampler_for
from phi4mm_acceptance.protocol.checks import greedy_answer
from phi4mm_acceptance.protocol.client import ChatClient
from phi4mm_acceptance.protocol.media import load_manifest, user_message
from phi4mm_acceptance.protocol.odd_media import distinct_image_url
from phi4mm_acceptance.report.progress import Progress
from phi4mm_acceptance.report.release import memory_plot

MANIFEST = load_manifest()
RecordProperty = Callable[[str, object], None]


@pytest.mark.defect("vllm#15294")
@pytest.mark.nightly
@pytest.mark.image
def test_memory_stays_bounded_over_distinct_images(client: ChatClient, profile: Profile, settings: RunSettings,
                                                   server: Endpoint, missing_prerequisite: Callable[..., None],
                                                   record_property: RecordProperty,
                                                   progress: Callable[[str, int, str], Progress],
                                                   judges: Callable[[str], None],
                                                   artifact: Callable[[Path], Path]) -> None:
    """After the cache warm-up, over [soak] images the fitted growth of every server process's resident memory
    is at most max_rss_growth_mb (memory_growth.soak_growth; vllm#15294). Plot: plots/memory-soak.png; peak
    HBM per device from npu-smi (nvidia-smi) where the host has it."""
    judges("soak")
    soak = profile.soak
    if soak is None:
        missing_prerequisite(f"profile {profile.name!r} has no [soak] table (images, max_rss_growth_mb, item_mb)")
    reader = memory_reader(server, client)
    if isinstance(reader, MetricsMemory):
        missing_prerequisite(f"the soak can read only {reader.what}: a leak in the engine core would not show; run it "
                             "with the process or docker target", warnings.warn)
    warmup = soak.warmup_images(profile.mm_cache_gb)
    readings: list[dict[str, float]] = []
    sampler = sampler_for(settings.launch)  # npu-smi (nvidia-smi) on the host: HBM through the soak
    steps = progress("memory soak", warmup + soak.images, f"pictures ({warmup} warm-up)")
    with sampler or nullcontext():
        for number in range(warmup + soak.images):
            url = distinct_image_url(number, soak.image_px)
            greedy_answer(client, user_message(MANIFEST.describe_question, url), 8)
            readings.append(reader.read())
            steps.update(number + 1, f"{sum(readings[-1].values()):.0f} MB resident")
    for key, value in (sampler.figures() if sampler else {}).items():
        record_property(key, value)
    totals = [sum(reading.values()) for reading in readings]
    measured = totals[warmup - 1:]
    growth = soak_growth(measured)
    by_process = growth_by_process(readings[warmup - 1], readings[-1])
    plot = artifact(memory_plot(totals, warmup, soak.max_rss_growth_mb, settings.report.reports_dir / "plots"))
    for key, value in (("soak_warmup_images", warmup), ("rss_after_warmup_mb", round(measured[0], 1)),
                       ("rss_end_mb", round(measured[-1], 1)), ("rss_growth_mb", round(growth, 1)),
                       ("soak_measures", reader.what)):
        record_property(key, value)
    assert growth <= soak.max_rss_growth_mb, (
        f"the server's resident memory grew {growth:.0f} MB over {soak.images} distinct images after a warm-up of "
        f"{warmup} filled its {profile.mm_cache_gb:g} GiB multimodal cache ({measured[0]:.0f} -> {measured[-1]:.0f} "
        f"MB, {1024 * growth / soak.images:.0f} KB an image; by process: {by_process}), over the profile's "
        f"{soak.max_rss_growth_mb:g} MB ({soak.origin}): memory kept for every image (vllm#15294)? plot: {plot}")
