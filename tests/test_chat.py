"""Step 4 of the procedure: image + text chat, the way the seed does it and around it.

Every answer is checked for vLLM's response schema and usage, and for content: each shipped image has a
question and the keywords a right answer contains (images/manifest.json).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from fixtures.selection import not_applicable
from phi4mm_acceptance.deployment.profile import Profile
from phi4mm_acceptance.protocol.checks import (
    answer_text,
    chat_reply_problems,
    media_token_problems,
    stream_and_plain,
    stream_reply_problems,
)
from phi4mm_acceptance.protocol.client import ChatClient
from phi4mm_acceptance.protocol.media import (
    ORDINALS,
    AssetServer,
    ImageItem,
    load_manifest,
    missing_keywords,
    own_image_problem,
    user_message,
)
from phi4mm_acceptance.verdicts import WrongAnswer

MANIFEST = load_manifest()
DELIVERIES = ("base64", "url")
RecordProperty = Callable[[str, object], None]


def image_url(item: ImageItem, delivery: str, assets: AssetServer) -> str:
    return item.data_url() if delivery == "base64" else assets.url(item.file)


def ask(client: ChatClient, messages: list[dict[str, Any]], max_tokens: int, record: RecordProperty) -> str:
    """One non-streamed chat that must succeed with a well-formed answer; records its figures, returns the text."""
    reply = client.chat(messages, max_completion_tokens=max_tokens)
    problems = chat_reply_problems(reply, max_tokens)
    assert not problems, "; ".join(problems)
    record("latency_ms", round(reply.elapsed_ms, 2))
    for key in ("prompt_tokens", "completion_tokens"):
        record(key, reply.json["usage"][key])
    return answer_text(reply)


def assert_keywords(answer: str, expected: tuple[tuple[str, ...], ...] | list[list[str]], what: str) -> None:
    missing = missing_keywords(answer, tuple(map(tuple, expected)))
    if missing:
        raise WrongAnswer(f"{what}: answer lacks any of {missing}; answer was {answer[:300]!r}")


@pytest.mark.image
@pytest.mark.smoke
@pytest.mark.network
@pytest.mark.parametrize("remote", MANIFEST.remote_images, ids=lambda r: r["name"])
def test_seed_request(client: ChatClient, profile: Profile, remote: dict[str, Any],
                      record_property: RecordProperty) -> None:
    """The seed's exact request: a public image URL, "What is in this image?", max_completion_tokens 100."""
    answer = ask(client, user_message(remote["question"], remote["url"]), profile.chat.max_completion_tokens,
                 record_property)
    assert_keywords(answer, remote["expected"], remote["name"])


@pytest.mark.image
@pytest.mark.smoke
@pytest.mark.parametrize(
    ("item", "delivery"),
    [(item, delivery) for item in MANIFEST.images for delivery in DELIVERIES],
    ids=[f"{item.name}-{delivery}" for item in MANIFEST.images for delivery in DELIVERIES],
)
def test_image_question(client: ChatClient, assets: AssetServer, profile: Profile, item: ImageItem,
                        delivery: str, record_property: RecordProperty) -> None:
    """Each shipped image (colours, counting, a chart, text in PNG/JPEG/WebP, 28 px and 2560 px) by each route.
    An image whose prompt cannot fit the profile's max_model_len (vLLM's own count, from POST /tokenize) is
    named as such: the server must refuse it, and the deployment cannot take images of that size."""
    messages = user_message(item.question, image_url(item, delivery, assets))
    max_tokens = profile.chat.max_completion_tokens
    needed = client.prompt_tokens(messages)
    if needed is not None:
        record_property("prompt_tokens_tokenized", needed)
        assert needed + max_tokens <= profile.model.max_model_len, (
            f"{item.name} ({item.width}x{item.height}): its prompt is {needed} tokens by the server's own count "
            f"(POST /tokenize) and the answer may take {max_tokens}: over the profile's max_model_len "
            f"{profile.model.max_model_len}, so vLLM refuses it. This deployment cannot take a "
            f"{item.width}x{item.height} image: serve with a larger --max-model-len")
    answer = ask(client, messages, max_tokens, record_property)
    assert_keywords(answer, item.expected, f"{item.name} ({item.width}x{item.height} {item.format})")


@pytest.mark.image
@pytest.mark.nightly
@pytest.mark.parametrize("count", [2, "limit"], ids=["2-images", "limit-images"])
def test_several_images(client: ChatClient, profile: Profile, count: int | str,
                        record_property: RecordProperty) -> None:
    """Several images in one prompt, up to the profile's --limit-mm-per-prompt, asked about one at a time: each
    answer names its own image and not every other one, so one description that happens to cover them all
    cannot pass for all (and images taken out of order, vllm#12740, answer about the wrong one)."""
    limit = profile.model.limit("image")
    items = MANIFEST.tagged("several")[: min(limit, count if isinstance(count, int) else limit)]
    if len(items) < 2:
        not_applicable(f"the profile allows {limit} image(s) per prompt")
    urls = [item.data_url() for item in items]
    for index, item in enumerate(items):
        what = f"the {ORDINALS[index]} of {len(items)} images ({item.name})"
        answer = ask(client, user_message(MANIFEST.describe_nth(index, len(items)), *urls),
                     profile.chat.max_completion_tokens, record_property)
        problem = own_image_problem(answer, item, [other for other in items if other is not item], what)
        if problem:
            raise WrongAnswer(problem)


@pytest.mark.smoke
@pytest.mark.parametrize("prompt", MANIFEST.text_prompts, ids=lambda p: p["name"])
def test_text_only(client: ChatClient, profile: Profile, prompt: dict[str, Any],
                   record_property: RecordProperty) -> None:
    answer = ask(client, [{"role": "user", "content": prompt["question"]}], profile.chat.max_completion_tokens,
                 record_property)
    assert_keywords(answer, prompt["expected"], prompt["name"])


@pytest.mark.image
@pytest.mark.smoke
def test_image_tokens_counted(client: ChatClient, profile: Profile) -> None:
    """The same question costs more prompt tokens with an image than without: the image reached the model.
    usage.prompt_tokens is the prompt POST /tokenize counts for the same messages, where the server has it."""
    item = MANIFEST.image("red-circle")
    _, problems = media_token_problems(client, [{"role": "user", "content": [{"type": "text", "text": item.question}]}],
                                       user_message(item.question, item.data_url()), profile.chat.length_cap_tokens,
                                       "image")
    assert not problems, "; ".join(problems)


@pytest.mark.image
@pytest.mark.smoke
@pytest.mark.parametrize("name", ["red-circle", "bar-chart"])
def test_stream_matches_non_stream(client: ChatClient, profile: Profile, name: str,
                                   record_property: RecordProperty) -> None:
    """At temperature 0 the streamed answer equals the plain one, with well-framed SSE and the same usage
    (checks.stream_and_plain: a cache_salt each)."""
    item = MANIFEST.image(name)
    compared = stream_and_plain(client, user_message(MANIFEST.describe_question, item.data_url()),
                                profile.chat.max_completion_tokens)
    assert not compared.problems, "; ".join(compared.problems)
    streamed = compared.streamed
    assert streamed is not None
    record_property("ttft_ms", round(streamed.ttft_ms or -1, 2))
    record_property("completion_tokens", streamed.usage["completion_tokens"])
    assert streamed.ttft_ms is not None and streamed.ttft_ms <= profile.chat.max_ttft_ms, (
        f"time to first token {streamed.ttft_ms} ms exceeds the profile's max_ttft_ms {profile.chat.max_ttft_ms}")


@pytest.mark.image
@pytest.mark.smoke
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_finish_reason_length_when_capped(client: ChatClient, profile: Profile, stream: bool) -> None:
    """A cap below the answer's length stops generation exactly at the cap with finish_reason "length"."""
    cap = profile.chat.length_cap_tokens
    messages = user_message(MANIFEST.describe_question, MANIFEST.image("bar-chart").data_url())
    if stream:
        reply = client.stream_chat(messages, max_completion_tokens=cap)
        problems = stream_reply_problems(reply, cap)
        finish, usage = reply.finish_reason, reply.usage
    else:
        plain = client.chat(messages, max_completion_tokens=cap)
        problems = chat_reply_problems(plain, cap)
        finish = plain.json["choices"][0]["finish_reason"] if not problems else None
        usage = plain.json["usage"] if not problems else None
    assert not problems, "; ".join(problems)
    assert finish == "length", f"finish_reason is {finish!r} with max_completion_tokens={cap}, expected 'length'"
    assert usage["completion_tokens"] == cap, f"completion_tokens {usage['completion_tokens']} != the cap {cap}"
