"""A LoRA adapter listed but not applied (vllm#16424): first what holds on any weights (the log-probabilities
move), then the image canary through the adapter. Release sign-off."""
from __future__ import annotations

from collections.abc import Callable
from contextlib import closing

import pytest

from fixtures.outcomes import not_applicable
from phi4mm_acceptance.accuracy.canary import image_canary, share_right
from phi4mm_acceptance.accuracy.lora_effect import adapter_canary_problem, adapter_effect_problem
from phi4mm_acceptance.accuracy.lora_hint import adapter_for
from phi4mm_acceptance.deployment.profile import Profile
from phi4mm_acceptance.protocol.checks import greedy_logprobs, logprob_change
from phi4mm_acceptance.protocol.client import ChatClient
from phi4mm_acceptance.protocol.media import load_manifest
from phi4mm_acceptance.verdicts import WrongAnswer

MANIFEST = load_manifest()
RecordProperty = Callable[[str, object], None]
LOGPROB_TOKENS = 16


@pytest.mark.defect("vllm#16424")
@pytest.mark.release
@pytest.mark.image
@pytest.mark.accuracy
def test_vision_lora_is_applied_when_named(client: ChatClient, profile: Profile,
                                           missing_prerequisite: Callable[[str], None],
                                           record_property: RecordProperty) -> None:
    """Through the vision adapter by name a text prompt's log-probabilities move past the noise of two base runs,
    and the image canary reaches the profile's threshold (lora_effect.py; vllm#16424)."""
    adapter = adapter_for(client.get("/v1/models").json, client.model, "image")
    if adapter is None:
        not_applicable("the server lists no vision LoRA adapter (GET /v1/models)")
    messages = [{"role": "user", "content": MANIFEST.text_prompts[0]["question"]}]
    base, again = (greedy_logprobs(client, messages, LOGPROB_TOKENS) for _ in range(2))
    with closing(client.naming(adapter)) as named:
        through_adapter = greedy_logprobs(named, messages, LOGPROB_TOKENS)
    noise, change = logprob_change(base, again), logprob_change(base, through_adapter)
    record_property("logprob_noise", round(noise, 4))
    record_property("logprob_change_through_adapter", round(change, 4))
    if problem := adapter_effect_problem(adapter, change, noise):
        raise WrongAnswer(problem, "a LoRA adapter listed but not applied (vllm#16424)")
    if profile.accuracy is None:
        missing_prerequisite(f"profile {profile.name!r} has no [accuracy] table")
    with closing(client.naming(adapter)) as named:
        through = image_canary(named, MANIFEST)
    record_property("adapter_canary_image_accuracy", round(share_right(through), 4))
    if problem := adapter_canary_problem(adapter, through, profile.accuracy.canary_min_image_accuracy):
        raise WrongAnswer(problem)
