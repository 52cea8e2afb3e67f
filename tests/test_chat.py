"""Step 4 of the procedure: image + text chat, the way the seed does it and around it.

Every answer is checked for vLLM's response schema and usage, and for content: each shipped image has a
question and the keywords a right answer contains (images/manifest.json).
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from fixtures.outcomes import not_applicable
from phi4mm_acceptance.deployment.profile import Profile, flag_value
from phi4mm_acceptance.protocol.checks import (
    answer_text,
    chat_reply_problems,
    media_token_problems,
    stream_and_plain,
    stream_reply_problems,
)
from phi4mm_acceptance.protocol.client import ChatClient
from phi4mm_acceptance.protocol.contract import load_contract
from phi4mm_acceptance.protocol.media import (
    MEDIA_PARTS,
    ORDINALS,
    AssetServer,
    ImageItem,
    load_manifest,
    missing_keywords,
    own_image_problem,
    user_message,
    uuid_reference,
)
from phi4mm_acceptance.protocol.vllm_api import stream_usage_asked
from phi4mm_acceptance.verdicts import WrongAnswer

MANIFEST = load_manifest()
CONTRACT = load_contract()
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


REQUEST_FIELDS: dict[str, dict[str, Any]] = {  # what users send beside the messages (ChatCompletionRequest, 0.11-0.34)
    "sampling": {"temperature": 0.8, "top_p": 0.9, "top_k": 20, "presence_penalty": 0.5, "frequency_penalty": 0.5,
                 "repetition_penalty": 1.1},
    "seed": {"temperature": 0.8, "seed": 1234},
    "cache-salt": {"cache_salt": "phi4mm-acceptance"},
    "logprobs": {"logprobs": True, "top_logprobs": 2},
}


@pytest.mark.smoke
@pytest.mark.parametrize("fields", list(REQUEST_FIELDS))
def test_request_fields_with_every_adapter(client: ChatClient, profile: Profile, fields: str) -> None:
    """Sampling, seed, cache and logprobs fields with the served model and with each LoRA adapter the server lists
    named as the model: served, the reply naming what the request named, and holding what it asked for (each
    token's `top_logprobs` alternatives where asked, none where not)."""
    cap, asked = profile.chat.length_cap_tokens, REQUEST_FIELDS[fields]
    problems = []
    for model in [client.model, *sorted(client.lora_names)]:
        reply = client.naming(model).chat([{"role": "user", "content": MANIFEST.describe_question}],
                                          max_completion_tokens=cap, **asked)
        found = chat_reply_problems(reply, cap) or logprobs_problems(reply.json, asked.get("top_logprobs"))
        problems += [f"{model} with {sorted(asked)}: {problem}" for problem in found]
    assert not problems, "; ".join(problems)


def logprobs_problems(body: dict[str, Any], top: int | None) -> list[str]:
    """Each choice's logprobs: null unless asked; asked, one entry per generated token, its last (the end of
    sequence, or a stop token) included, so the entries of all choices sum to usage.completion_tokens (measured
    0.32: a stop token as the only token is one entry and one completion token), each with exactly `top`
    alternatives (vLLM's chat serving keeps the first `top_logprobs`)."""
    choices = body["choices"]
    if top is None:
        sent = [str(choice.get("logprobs"))[:120] for choice in choices if choice.get("logprobs") is not None]
        return [f"logprobs sent though none were asked for: {sent[0]}"] if sent else []
    contents = [choice["logprobs"].get("content") if isinstance(choice.get("logprobs"), dict) else None
                for choice in choices]
    if not all(isinstance(content, list) for content in contents):
        return [f"logprobs were asked for, choices carry {[str(choice.get('logprobs'))[:80] for choice in choices]}"]
    counted = [len(content) for content in contents]
    if sum(counted) != body["usage"]["completion_tokens"]:
        return [f"logprobs.content holds {' + '.join(map(str, counted))} entries, not one per generated token "
                f"(usage.completion_tokens {body['usage']['completion_tokens']})"]
    wrong = [entry.get("token") for content in contents for entry in content
             if len(entry.get("top_logprobs") or []) != top]
    return [f"tokens {wrong[:5]} do not carry {top} top_logprobs"] if wrong else []


@pytest.mark.smoke
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_n_choices(client: ChatClient, profile: Profile, stream: bool) -> None:
    """`n` sampled answers to one prompt: exactly n choices indexed 0..n-1, each with its own finish_reason, usage
    summing their tokens; streamed, each choice's role first and its finish_reason last, interleaved by index, with
    usage per choice so far (continuous_usage_stats) and summed at the end; plain, with logprobs that count each
    choice's tokens (vLLM 0.11-0.34; measured 0.32)."""
    cap, n = profile.chat.length_cap_tokens, 2
    messages = [{"role": "user", "content": MANIFEST.describe_question}]
    if stream:
        reply = client.stream_chat(messages, include_usage=False, max_completion_tokens=cap, n=n, temperature=0.8,
                                   stream_options={"include_usage": True, "continuous_usage_stats": True})
        problems = stream_reply_problems(reply, cap, True, True, n)
    else:
        plain = client.chat(messages, max_completion_tokens=cap, n=n, temperature=0.8, logprobs=True, top_logprobs=1)
        problems = chat_reply_problems(plain, cap, n) or logprobs_problems(plain.json, 1)
    assert not problems, "; ".join(problems)


def uuid_cases(kind: str) -> tuple[str, ...]:
    """The contract cases (contract/vllm-requests.toml) of a part of `kind` with a uuid: its data sent with one
    (input_audio only: its data lost up to 0.21), then a part naming only the uuid."""
    cased = kind.replace("_", "-")
    return (*(["input-audio-with-uuid"] if kind == "input_audio" else []), f"uuid-reference-{cased}")


@pytest.mark.smoke
@pytest.mark.parametrize("kind", [pytest.param(kind, marks=getattr(pytest.mark, modality))
                                  for kind, modality in MEDIA_PARTS.items()])
def test_media_uuid_names_its_item(client: ChatClient, profile: Profile, server_version: str | None,
                                   kind: str) -> None:
    """A media part may carry a `uuid`, which vLLM keys its processor cache by in place of the content's hash
    (0.11-0.34): the part is served as without one, and a later part naming only that uuid (`"image_url": null`)
    is served the same item, the same prompt tokens and the same greedy answer (each request computed afresh,
    a cache_salt each), where the server's release serves such a part (the robustness rows hold the others to
    their answers). Needs the processor cache, on unless --mm-processor-cache-gb 0."""
    if float(flag_value(profile.serve.args, "--mm-processor-cache-gb") or 4) == 0:
        not_applicable("the server runs without a multimodal processor cache (--mm-processor-cache-gb 0)")
    for case in uuid_cases(kind):
        answer, _ = CONTRACT.answer(case, server_version)
        if not answer.served:
            not_applicable(f"vLLM {server_version} answers {answer.status} to {CONTRACT.what(case)} ({answer.source}):"
                           f" its robustness case [{case}] holds it to that")
    cap, named = profile.chat.max_completion_tokens, f"phi4mm-acceptance-{uuid.uuid4().hex}"
    text = {"type": "text", "text": "Describe what you see or hear."}
    sent = client.chat([{"role": "user", "content": [MANIFEST.sample_part(kind, named), text]}],
                       max_completion_tokens=cap, cache_salt=uuid.uuid4().hex)
    problems = chat_reply_problems(sent, cap)
    assert not problems, f"a {kind} part with a uuid: " + "; ".join(problems)
    again = client.chat([{"role": "user", "content": [uuid_reference(kind, named), text]}],
                        max_completion_tokens=cap, cache_salt=uuid.uuid4().hex)
    problems = chat_reply_problems(again, cap)
    assert not problems, f"a {kind} part naming only the uuid {named} sent just before: " + "; ".join(problems)
    tokens = [reply.json["usage"]["prompt_tokens"] for reply in (sent, again)]
    assert tokens[0] == tokens[1], (f"the {kind} named by its uuid counts {tokens[1]} prompt tokens, the same part "
                                    f"with its data {tokens[0]}: the cache served another item")
    answers = [answer_text(reply) for reply in (sent, again)]
    assert answers[0] == answers[1], (f"the {kind} named by its uuid is answered {answers[1][:200]!r}, with its data "
                                      f"{answers[0][:200]!r}: the cache served another item")


STREAM_OPTIONS: dict[str, dict[str, bool] | None] = {  # vLLM 0.11-0.34 StreamOptions
    "no-options": None, "include-usage": {"include_usage": True}, "usage-not-asked": {"include_usage": False},
    "continuous-usage": {"include_usage": True, "continuous_usage_stats": True},
    "continuous-without-usage": {"continuous_usage_stats": True},  # include_usage's default decides (0.18: off)
}


@pytest.mark.smoke
@pytest.mark.parametrize("options", list(STREAM_OPTIONS))
def test_stream_options_are_held_to(client: ChatClient, profile: Profile, options: str) -> None:
    """A stream carries usage exactly as its stream_options ask in the server's version: none unless
    include_usage (which defaults to on where stream_options are sent, up to vLLM 0.17), then in the last chunk
    only, or with continuous_usage_stats in every chunk, counting the tokens so far."""
    asked = STREAM_OPTIONS[options]
    include, continuous = stream_usage_asked(asked, client.server_version)
    cap = profile.chat.length_cap_tokens
    reply = client.stream_chat([{"role": "user", "content": MANIFEST.describe_question}], include_usage=False,
                               max_completion_tokens=cap, **({"stream_options": asked} if asked else {}))
    problems = stream_reply_problems(reply, cap, include, continuous)
    assert not problems, "; ".join(problems)
