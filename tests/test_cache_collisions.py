"""A cache handing one image's answer to another (vllm#12603, #36708; LMCache#4086): the reply is well formed
and fluent, about the wrong image. Needs no right answer, so it holds on a random-weight model too."""
from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from phi4mm_acceptance.deployment.profile import Profile
from phi4mm_acceptance.protocol.checks import greedy_answer, mixup_problems
from phi4mm_acceptance.protocol.client import ChatClient
from phi4mm_acceptance.protocol.flat_answers import answers_every_prompt_alike, mixup_failure
from phi4mm_acceptance.protocol.media import load_manifest, user_message
from phi4mm_acceptance.protocol.odd_media import distinct_image_url

MANIFEST = load_manifest()
RecordProperty = Callable[[str, object], None]
IMAGE_A = "red-circle"  # a shipped 448x448 image; B is another 448x448 image, so both cost the same tokens


@pytest.mark.defect("vllm#12603", "vllm#36708")
@pytest.mark.smoke
@pytest.mark.image
@pytest.mark.parametrize("cache", ["prefix-cache-shared", "cache-salt-each"])
def test_each_image_gets_its_own_answer(client: ChatClient, profile: Profile, cache: str,
                                        record_property: RecordProperty) -> None:
    """Images A, B, A at temperature 0, as many tokens each: B's answer must not begin as A's, A's two agree
    (checks.mixup_problems); cache_salt each leaves only the processor cache to collide (vllm#12603, #36708)."""
    image_b = distinct_image_url(0, MANIFEST.image(IMAGE_A).width)
    urls = {IMAGE_A: MANIFEST.image(IMAGE_A).data_url(), "another-448px-image": image_b}
    names = tuple(urls)
    counts = {name: client.prompt_tokens(user_message(MANIFEST.describe_question, url)) for name, url in urls.items()}
    record_property("prompt_tokens_a_b", str(list(counts.values())))
    answers = []
    for name in (*names, names[0]):
        salt = {"cache_salt": uuid.uuid4().hex} if cache == "cache-salt-each" else {}
        messages = user_message(MANIFEST.describe_question, urls[name])
        answers.append(greedy_answer(client, messages, profile.chat.max_completion_tokens, **salt))
    problems = mixup_problems(*answers, names=names)
    if problems:
        raise mixup_failure("; ".join(problems),
                            answers_every_prompt_alike(client, MANIFEST, profile.chat.max_completion_tokens),
                            "a cache collision", "see", "a cache handing one image's answer to another (vllm#12603, "
                                                        "#36708)")
