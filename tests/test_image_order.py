"""Images answered out of order (vllm#12740, #15125): text and pictures interleaved, each asked about by its
place. Judges content, so release sign-off only."""
from __future__ import annotations

from typing import Any

import pytest

from fixtures.outcomes import not_applicable
from phi4mm_acceptance.deployment.profile import Profile
from phi4mm_acceptance.protocol.checks import greedy_answer
from phi4mm_acceptance.protocol.client import ChatClient
from phi4mm_acceptance.protocol.media import ORDINALS, image_part, load_manifest, own_image_problem
from phi4mm_acceptance.verdicts import WrongAnswer

MANIFEST = load_manifest()


@pytest.mark.defect("vllm#12740", "vllm#15125")
@pytest.mark.release
@pytest.mark.image
def test_interleaved_images_are_answered_in_order(client: ChatClient, profile: Profile) -> None:
    """With "Picture N follows." before each picture, the answer about the Nth must name its content and not
    every other picture's (media.own_image_problem; vllm#12740, #15125)."""
    limit = profile.model.limit("image")
    items = MANIFEST.tagged("several")[:min(limit, 3)]
    if len(items) < 2:
        not_applicable(f"the profile allows {limit} image(s) per prompt")
    content: list[dict[str, Any]] = []
    for number, item in enumerate(items, start=1):
        content += [{"type": "text", "text": f"Picture {number} follows."}, image_part(item.data_url())]
    for index, item in enumerate(items):
        question = {"type": "text", "text": f"Describe the {ORDINALS[index]} picture in one sentence."}
        answer = greedy_answer(client, [{"role": "user", "content": [*content, question]}],
                               profile.chat.max_completion_tokens)
        problem = own_image_problem(answer, item, [other for other in items if other is not item],
                                    f"the {ORDINALS[index]} of {len(items)} interleaved pictures ({item.name})")
        if problem:
            raise WrongAnswer(problem, "images taken out of order (vllm#12740, #15125)")
