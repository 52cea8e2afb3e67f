"""Bad requests are refused with vLLM's 4xx error body, and the server keeps serving afterwards."""
from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from phi4mm_acceptance.checks import chat_reply_problems
from phi4mm_acceptance.client import ChatClient, HttpReply
from phi4mm_acceptance.launch.ports import free_port
from phi4mm_acceptance.media import AssetServer, load_manifest, user_message
from phi4mm_acceptance.profile import Profile
from phi4mm_acceptance.vllm_api import parse_error_body

MANIFEST = load_manifest()
QUESTION = MANIFEST.describe_question


@dataclass(frozen=True)
class Context:
    client: ChatClient
    profile: Profile
    assets: AssetServer

    def chat(self, messages: list[dict[str, Any]], **params: Any) -> HttpReply:
        return self.client.chat(messages, **{"max_completion_tokens": self.profile.chat.length_cap_tokens, **params})


@dataclass(frozen=True)
class BadRequest:
    name: str
    send: Callable[[Context], HttpReply]
    statuses: tuple[int, ...] = (400,)


def too_many_images(ctx: Context) -> HttpReply:
    limit = ctx.profile.model.limit_mm_per_prompt.get("image", 1)
    return ctx.chat(user_message(QUESTION, *[MANIFEST.image("red-circle").data_url()] * (limit + 1)))


def context_overflow(ctx: Context) -> HttpReply:
    words = ctx.profile.model.max_model_len + 256
    return ctx.chat([{"role": "user", "content": "hello " * words}])


CASES = (
    BadRequest("bad-base64", lambda ctx: ctx.chat(user_message(QUESTION, "data:image/png;base64,@@not*base64@@"))),
    BadRequest("not-an-image", lambda ctx: ctx.chat(user_message(
        QUESTION, "data:image/png;base64," + base64.b64encode(b"this is plain text, not a picture").decode()))),
    BadRequest("unreachable-image-url", lambda ctx: ctx.chat(user_message(
        QUESTION, f"http://127.0.0.1:{free_port('127.0.0.1')}/nothing-listens-here.png"))),
    BadRequest("missing-image-url", lambda ctx: ctx.chat(user_message(QUESTION, ctx.assets.url("no-such-image.png")))),
    BadRequest("unsupported-content-part", lambda ctx: ctx.chat([{"role": "user", "content": [
        {"type": "hologram", "hologram": {"url": "x"}}, {"type": "text", "text": QUESTION}]}])),
    BadRequest("too-many-images", too_many_images),
    BadRequest("context-overflow", context_overflow),
    BadRequest("completion-exceeds-context", lambda ctx: ctx.chat(
        [{"role": "user", "content": QUESTION}], max_completion_tokens=ctx.profile.model.max_model_len)),
    BadRequest("zero-max-tokens", lambda ctx: ctx.chat([{"role": "user", "content": QUESTION}],
                                                       max_completion_tokens=0)),
    BadRequest("unknown-role", lambda ctx: ctx.chat([{"role": "robot", "content": QUESTION}])),
    BadRequest("missing-messages", lambda ctx: ctx.client.post_json("/v1/chat/completions",
                                                                    {"model": ctx.client.model})),
    BadRequest("unknown-model", lambda ctx: ctx.client.post_json("/v1/chat/completions", {
        "model": "no-such-model", "messages": [{"role": "user", "content": QUESTION}]}), (404,)),
    BadRequest("malformed-json", lambda ctx: ctx.client.post_raw(
        "/v1/chat/completions", b'{"model": "x", "messages": [{"role": "user", "content": ')),
)


@pytest.mark.smoke
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_request_is_refused_and_server_recovers(client: ChatClient, profile: Profile, assets: AssetServer,
                                                    case: BadRequest) -> None:
    reply = case.send(Context(client, profile, assets))
    error = parse_error_body(reply.json)
    assert reply.status in case.statuses, (
        f"{case.name}: HTTP {reply.status}, expected {' or '.join(map(str, case.statuses))}; "
        f"body {reply.text[:300]!r}")
    assert error is not None, f"{case.name}: HTTP {reply.status} without vLLM's error body: {reply.text[:300]!r}"

    health = client.get("/health")
    assert health.status == 200, f"after {case.name}: GET /health answered {health.status}"
    follow_up = client.chat([{"role": "user", "content": QUESTION}], max_completion_tokens=profile.chat.length_cap_tokens)
    problems = chat_reply_problems(follow_up, client.model, profile.chat.length_cap_tokens)
    assert not problems, f"after {case.name}, a normal request failed: " + "; ".join(problems)
