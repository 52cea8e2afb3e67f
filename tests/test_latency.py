"""Single-request latency, measured with pytest-benchmark (figures in reports/benchmark.json).

Figures, not verdicts: the budgets live in test_performance; these show where the time goes for text,
one image and several images.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from fixtures.outcomes import not_applicable
from phi4mm_acceptance.deployment.profile import Profile
from phi4mm_acceptance.protocol.checks import chat_reply_problems
from phi4mm_acceptance.protocol.client import ChatClient
from phi4mm_acceptance.protocol.media import load_manifest, user_message

pytestmark = [pytest.mark.performance, pytest.mark.nightly]
MANIFEST = load_manifest()
REQUESTS = {
    "text": [{"role": "user", "content": MANIFEST.text_prompts[0]["question"]}],
    "one-image": user_message(MANIFEST.describe_question, MANIFEST.image("red-circle").data_url()),
    "several-images": user_message(MANIFEST.describe_each_question,
                                   *(item.data_url() for item in MANIFEST.tagged("several")[:3])),
}


@pytest.mark.parametrize("kind", [pytest.param(kind, marks=[pytest.mark.image] * (kind != "text")) for kind in REQUESTS])
def test_single_request_latency(benchmark: Any, client: ChatClient, profile: Profile, kind: str,
                                record_property: Callable[[str, object], None],
                                record_samples: Callable[[dict[str, list[float]]], None]) -> None:
    messages = REQUESTS[kind]
    if kind == "several-images" and profile.model.limit("image") < 3:
        not_applicable("the profile allows fewer than 3 images per prompt")
    reply = benchmark.pedantic(client.chat, args=(messages,), kwargs={"max_completion_tokens": 32},
                               rounds=5, iterations=1, warmup_rounds=1)
    problems = chat_reply_problems(reply, 32)
    assert not problems, "; ".join(problems)
    record_property("mean_latency_ms", round(benchmark.stats.stats.mean * 1000, 3))
    record_property("median_latency_ms", round(benchmark.stats.stats.median * 1000, 3))
    record_samples({"latency_ms": [seconds * 1000 for seconds in benchmark.stats.stats.data]})
