"""Step 5 of the procedure: accuracy with thresholds, not "the answer was non-empty".

A built-in canary (smoke, seconds): questions with known answers about the shipped images and spoken clips,
scored as VQA and ASR benchmarks score them. Then AISBench on the profile's datasets, each gated on the
vllm-ascend band and a Wilson-lower-bound floor. A low multimodal score names the LoRA adapter the
deployment likely lacks.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from phi4mm_acceptance.accuracy.aisbench import find_placement, run_dataset
from phi4mm_acceptance.accuracy.canary import (
    CANARY_MAX_TOKENS,
    audio_messages,
    image_canary,
    share_right,
)
from phi4mm_acceptance.accuracy.gates import gate_failures, wilson_lower_bound
from phi4mm_acceptance.accuracy.lora_hint import ADAPTER_FOR, missing_lora_hint
from phi4mm_acceptance.accuracy.scoring import corpus_wer
from phi4mm_acceptance.deployment.endpoint import Endpoint
from phi4mm_acceptance.deployment.profile import AccuracySpec, AisbenchDataset
from phi4mm_acceptance.deployment.settings import RunSettings
from phi4mm_acceptance.protocol.checks import greedy_answer
from phi4mm_acceptance.protocol.client import ChatClient
from phi4mm_acceptance.protocol.media import Manifest
from phi4mm_acceptance.verdicts import WrongAnswer

pytestmark = pytest.mark.accuracy
RecordProperty = Callable[[str, object], None]


@pytest.fixture(scope="module")
def accuracy(settings: RunSettings) -> AccuracySpec:
    if settings.profile.accuracy is None:
        pytest.skip(f"profile {settings.profile.name!r} has no [accuracy] table")
    return settings.profile.accuracy


@pytest.fixture(scope="module")
def lora_hint(client: ChatClient, settings: RunSettings) -> Callable[[str], str]:
    """hint(modality): what /v1/models and the serve command say about the matching LoRA adapter."""
    def hint(modality: str) -> str:
        serve_args = None if settings.launch.target == "external" else settings.profile.serve.args
        return missing_lora_hint(modality, client.get("/v1/models").json, client.model, serve_args)
    return hint


@pytest.mark.smoke
@pytest.mark.image
def test_image_canary(client: ChatClient, manifest: Manifest, accuracy: AccuracySpec,
                      lora_hint: Callable[[str], str], record_property: RecordProperty) -> None:
    results = image_canary(client, manifest)
    share = share_right(results)
    record_property("canary_image_accuracy", round(share, 4))
    record_property("canary_image_questions", len(results))
    wrong = [r.describe() for r in results if not r.correct]
    minimum = accuracy.canary_min_image_accuracy
    if share < minimum:
        raise WrongAnswer(
            f"image canary: {len(results) - len(wrong)}/{len(results)} right ({share:.0%}) is below the profile's "
            f"{minimum:.0%} ({accuracy.origin}); {lora_hint('image')}; wrong: {'; '.join(wrong[:6])}")


@pytest.mark.smoke
@pytest.mark.audio
def test_audio_canary(client: ChatClient, manifest: Manifest, accuracy: AccuracySpec,
                      lora_hint: Callable[[str], str], record_property: RecordProperty) -> None:
    pairs = [(clip.transcript, greedy_answer(client, audio_messages(clip), CANARY_MAX_TOKENS)) for clip in manifest.transcription_clips]
    wer = corpus_wer(pairs)
    record_property("canary_audio_wer", round(wer, 4))
    record_property("canary_audio_clips", len(pairs))
    worst = max(pairs, key=lambda pair: corpus_wer([pair]))
    maximum = accuracy.canary_max_audio_wer
    if wer > maximum:
        raise WrongAnswer(
            f"audio canary: word error rate {wer:.1%} over {len(pairs)} clips is above the profile's "
            f"{maximum:.0%} ({accuracy.origin}); {lora_hint('audio')}; worst: {worst[0]!r} -> {worst[1][:120]!r}")


@pytest.mark.nightly
def test_aisbench(aisbench_dataset: AisbenchDataset, server: Endpoint, settings: RunSettings,
                  accuracy: AccuracySpec, lora_hint: Callable[[str], str],
                  missing_prerequisite: Callable[[str], None], record_property: RecordProperty,
                  tool_heartbeat: Callable[..., Callable[[float], None]], judges: Callable[[str], None],
                  artifact: Callable[[Path], Path]) -> None:
    dataset = aisbench_dataset
    judges(f"accuracy.aisbench.{dataset.name}")
    placement = find_placement(settings.tools, settings.launch, server)
    if isinstance(placement, str):
        missing_prerequisite(placement)
    data = settings.tools.aisbench_datasets / dataset.path
    if not data.exists():
        missing_prerequisite(f"dataset {dataset.name} is not on disk: {data}")
    for key in ("baseline", "band", "floor"):
        record_property(key, getattr(dataset, key))
    result = run_dataset(placement, dataset, accuracy, server, artifact(settings.report.reports_dir / "aisbench" / dataset.name),
                         tool_heartbeat(f"AISBench {dataset.name}", accuracy.aisbench_timeout_s))
    record_property("score", result.score)
    record_property("samples", result.samples)
    record_property("failed_requests", result.failed_requests)
    record_property("wilson_lower_bound", round(100 * wilson_lower_bound(result.score / 100, result.samples), 2))
    assert result.failed_requests == 0, (
        f"{dataset.name}: {result.failed_requests} of {result.samples} requests failed "
        f"({'; '.join(result.failed_reasons[:3])}); see {result.output_dir}")
    failures = gate_failures(dataset, result.score, result.samples)
    if failures and dataset.modality in ADAPTER_FOR:
        failures.append(lora_hint(dataset.modality))
    if failures:
        raise WrongAnswer("; ".join(failures))
