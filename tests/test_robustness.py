"""Odd and bad requests get exactly the answer vLLM gives them in the server's version, and the server keeps
serving afterwards. What vLLM answers, by version and with its source, is data: contract/vllm-requests.toml."""
from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from fixtures.outcomes import not_applicable
from phi4mm_acceptance.deployment.launch.ports import free_port
from phi4mm_acceptance.deployment.profile import Profile
from phi4mm_acceptance.protocol.checks import chat_reply_problems, error_with_http_200
from phi4mm_acceptance.protocol.client import ChatClient, HttpReply
from phi4mm_acceptance.protocol.contract import load_contract
from phi4mm_acceptance.protocol.media import (
    AssetServer,
    audio_message,
    input_audio_part,
    load_manifest,
    user_message,
    uuid_reference,
)
from phi4mm_acceptance.protocol.odd_media import silent_wav
from phi4mm_acceptance.protocol.vllm_api import parse_error_body

MANIFEST = load_manifest()
QUESTION = MANIFEST.describe_question
CONTRACT = load_contract()
MIB = 1 << 20


@dataclass(frozen=True)
class Context:
    client: ChatClient
    profile: Profile
    assets: AssetServer

    def limit(self, case: str) -> int:
        """The server's setting for a limit case (its [serve] env or args as the profile states them, else vLLM's
        default)."""
        return CONTRACT.limits[case].value(self.profile.serve.env, self.profile.serve.args)

    def setting(self, case: str, name: str) -> int:
        """A setting a refusal's message names (contract `states`), as this server is configured."""
        model = self.profile.model
        return {"max_model_len": lambda: model.max_model_len, "image_limit": lambda: model.limit("image"),
                "audio_limit": lambda: model.limit("audio"), "limit": lambda: self.limit(case)}[name]()

    def chat(self, messages: list[dict[str, Any]], **params: Any) -> HttpReply:
        return self.client.chat(messages, **{"max_completion_tokens": self.profile.chat.length_cap_tokens, **params})


@dataclass(frozen=True)
class OddRequest:
    """A request vLLM refuses or serves in a way contract/vllm-requests.toml states, by version."""

    name: str
    send: Callable[[Context], HttpReply]
    modality: str | None = None  # the media it sends: skipped where the profile serves none
    needs_limit: bool = False  # tests the profile's limit_mm_per_prompt for its modality: none set, vLLM takes 999
    served_means: str = ""  # what a 200 where vLLM refuses most likely says about the server


def audio_chat(*parts: dict[str, Any]) -> Callable[[Context], HttpReply]:
    return lambda ctx: ctx.chat(audio_message("Transcribe the audio clip into text.", *parts))


def too_many_clips(ctx: Context) -> HttpReply:
    limit = ctx.profile.model.limit("audio")
    return audio_chat(*[input_audio_part(MANIFEST.transcription_clips[0].base64())] * (limit + 1))(ctx)


def too_many_images(ctx: Context) -> HttpReply:
    limit = ctx.profile.model.limit("image")
    return ctx.chat(user_message(QUESTION, *[MANIFEST.image("red-circle").data_url()] * (limit + 1)))


def wav_chat(clip: bytes) -> Callable[[Context], HttpReply]:
    return audio_chat(input_audio_part(base64.b64encode(clip).decode()))


def audio_over_size(ctx: Context) -> HttpReply:
    """Silence at 48 kHz stereo (192 KB a second), 64 KiB past the limit: the size trips, not the length (25 MB
    is 136 s)."""
    return wav_chat(silent_wav(48000, (ctx.limit("audio-over-size-limit") * MIB + 65536) / 192000, 2))(ctx)


def audio_over_duration(ctx: Context) -> HttpReply:
    """Silence at 8 kHz mono (16 KB a second), a second past the limit: 601 s is 9.6 MB, under 25 MB."""
    clip = silent_wav(8000, ctx.limit("audio-over-duration-limit") + 1, 1)
    if len(clip) > ctx.limit("audio-over-size-limit") * MIB:
        not_applicable("the server's audio size limit trips before its duration limit can")
    return wav_chat(clip)(ctx)


def image_over_download(ctx: Context) -> HttpReply:
    size = ctx.limit("image-over-download-limit") * MIB + 1
    return ctx.chat(user_message(QUESTION, ctx.assets.url(f"bytes/{size}.png")))


def media_with_uuid(kind: str, named: str) -> Callable[[Context], HttpReply]:
    return lambda ctx: ctx.chat([{"role": "user", "content": [MANIFEST.sample_part(kind, named),
                                                              {"type": "text", "text": QUESTION}]}])


def uuid_reference_after_data(kind: str) -> Callable[[Context], HttpReply]:
    """A part naming only a uuid whose part with data was sent just before (served from the processor cache where
    the release can; that first answer is the input-audio-with-uuid row's, and the other types' test_chat's)."""
    def send(ctx: Context) -> HttpReply:
        named = f"phi4mm-acceptance-{uuid.uuid4().hex}"
        media_with_uuid(kind, named)(ctx)
        return ctx.chat([{"role": "user", "content": [uuid_reference(kind, named),
                                                      {"type": "text", "text": QUESTION}]}])
    return send


def embeds_part(kind: str) -> Callable[[Context], HttpReply]:
    """Precomputed embeddings in place of media: served only with --enable-mm-embeds, which no profile sets."""
    payload = base64.b64encode(b"not a tensor").decode()
    return lambda ctx: ctx.chat([{"role": "user", "content": [{"type": kind, kind: payload},
                                                              {"type": "text", "text": QUESTION}]}])


def context_overflow(ctx: Context) -> HttpReply:
    words = ctx.profile.model.max_model_len + 256
    return ctx.chat([{"role": "user", "content": "hello " * words}])


CASES = (
    OddRequest("bad-base64", lambda ctx: ctx.chat(user_message(QUESTION, "data:image/png;base64,@@not*base64@@")),
               "image"),
    OddRequest("not-an-image", lambda ctx: ctx.chat(user_message(
        QUESTION, "data:image/png;base64," + base64.b64encode(b"this is plain text, not a picture").decode())),
               "image"),
    OddRequest("unreachable-image-url", lambda ctx: ctx.chat(user_message(
        QUESTION, f"http://127.0.0.1:{free_port('127.0.0.1')}/nothing-listens-here.png")), "image"),
    OddRequest("missing-image-url", lambda ctx: ctx.chat(user_message(QUESTION, ctx.assets.url("no-such-image.png"))),
               "image"),
    OddRequest("local-file-url", lambda ctx: ctx.chat(user_message(QUESTION, "file:///phi4mm-no-such-folder/red.png")),
               "image"),
    OddRequest("data-url-not-base64", lambda ctx: ctx.chat(user_message(QUESTION, "data:image/png;charset=utf-8,abc")),
               "image"),
    OddRequest("media-server-error", lambda ctx: ctx.chat(user_message(QUESTION, ctx.assets.url("status/503"))),
               "image"),
    OddRequest("bad-audio-base64", audio_chat(input_audio_part("@@not*base64@@")), "audio"),
    OddRequest("not-audio", audio_chat(input_audio_part(base64.b64encode(b"this is plain text, not a sound").decode())),
               "audio"),
    OddRequest("too-many-audio-clips", too_many_clips, "audio", needs_limit=True),
    OddRequest("audio-over-size-limit", audio_over_size, "audio"),
    OddRequest("audio-over-duration-limit", audio_over_duration, "audio"),
    OddRequest("image-over-download-limit", image_over_download, "image"),
    OddRequest("unsupported-content-part", lambda ctx: ctx.chat([{"role": "user", "content": [
        {"type": "hologram", "hologram": {"url": "x"}}, {"type": "text", "text": QUESTION}]}])),
    OddRequest("image-embeds-not-enabled", embeds_part("image_embeds"), "image"),
    OddRequest("audio-embeds-not-enabled", embeds_part("audio_embeds"), "audio"),
    OddRequest("too-many-images", too_many_images, "image", needs_limit=True),
    OddRequest("context-overflow", context_overflow),
    OddRequest("completion-exceeds-context", lambda ctx: ctx.chat(
        [{"role": "user", "content": QUESTION}], max_completion_tokens=ctx.profile.model.max_model_len)),
    OddRequest("completion-over-max-model-len", lambda ctx: ctx.chat(
        [{"role": "user", "content": QUESTION}], max_completion_tokens=ctx.profile.model.max_model_len + 1)),
    OddRequest("zero-max-tokens", lambda ctx: ctx.chat([{"role": "user", "content": QUESTION}],
                                                       max_completion_tokens=0)),
    OddRequest("negative-max-tokens", lambda ctx: ctx.chat([{"role": "user", "content": QUESTION}],
                                                           max_completion_tokens=-1)),
    OddRequest("unknown-role", lambda ctx: ctx.chat([{"role": "robot", "content": QUESTION}])),
    OddRequest("zero-choices", lambda ctx: ctx.chat([{"role": "user", "content": QUESTION}], n=0, temperature=0.8)),
    OddRequest("several-greedy-choices", lambda ctx: ctx.chat([{"role": "user", "content": QUESTION}], n=2)),
    OddRequest("too-many-logprobs", lambda ctx: ctx.chat([{"role": "user", "content": QUESTION}], logprobs=True,
                                                         top_logprobs=ctx.limit("too-many-logprobs") + 1)),
    OddRequest("uuid-never-sent", lambda ctx: ctx.chat([{"role": "user", "content": [
        uuid_reference("image_url", f"phi4mm-acceptance-never-sent-{uuid.uuid4().hex}"),
        {"type": "text", "text": QUESTION}]}]), "image"),
    OddRequest("input-audio-with-uuid", lambda ctx: media_with_uuid("input_audio", uuid.uuid4().hex)(ctx), "audio"),
    OddRequest("uuid-reference-image-url", uuid_reference_after_data("image_url"), "image"),
    OddRequest("uuid-reference-input-audio", uuid_reference_after_data("input_audio"), "audio"),
    OddRequest("uuid-reference-audio-url", uuid_reference_after_data("audio_url"), "audio"),
    OddRequest("missing-messages", lambda ctx: ctx.client.post_json("/v1/chat/completions",
                                                                    {"model": ctx.client.model})),
    OddRequest("unknown-model", lambda ctx: ctx.client.post_json("/v1/chat/completions", {
        "model": "no-such-model", "messages": [{"role": "user", "content": QUESTION}]}),
               served_means="this server serves any model name: started with VLLM_SKIP_MODEL_NAME_VALIDATION=1 "
                            "(vLLM 0.21+)? Clients then never learn they named the wrong model"),
    OddRequest("malformed-json", lambda ctx: ctx.client.post_raw(
        "/v1/chat/completions", b'{"model": "x", "messages": [{"role": "user", "content": ')),
)



@pytest.mark.smoke
@pytest.mark.parametrize("case", [pytest.param(case, marks=[getattr(pytest.mark, case.modality)] if case.modality
                                                else []) for case in CASES], ids=[case.name for case in CASES])
def test_odd_request_gets_vllms_answer_and_server_recovers(client: ChatClient, profile: Profile, assets: AssetServer,
                                                           server_version: str | None, case: OddRequest) -> None:
    if case.needs_limit and case.modality not in (profile.model.limit_mm_per_prompt or {}):
        not_applicable(f"the profile sets no {case.modality} limit: vLLM then accepts up to 999 (its default)")
    expected, note = CONTRACT.answer(case.name, server_version)
    if expected.status is None:
        not_applicable(f"vLLM {server_version} has no such limit ({expected.source})")
    promise = f"vLLM {server_version} answers {expected.status} ({expected.source}){'; ' + note if note else ''}"
    ctx = Context(client, profile, assets)
    reply = case.send(ctx)
    bug = error_with_http_200(reply, server_version)
    assert bug is None, f"{case.name}: {bug}; {promise}"
    if case.served_means and reply.status == 200:
        promise += f"; {case.served_means}"
    assert reply.status == expected.status, f"{case.name}: HTTP {reply.status}: {reply.text[:300]!r}; {promise}"
    if expected.served:
        problems = chat_reply_problems(reply, None)
        usage = reply.json.get("usage") if not problems else None
        if expected.clamp and usage and usage["total_tokens"] > profile.model.max_model_len:
            problems.append(f"prompt + completion = {usage['total_tokens']} tokens, over max_model_len "
                            f"{profile.model.max_model_len}")
        assert not problems, f"{case.name}: served, but " + "; ".join(problems) + f"; {promise}"
    else:
        error = parse_error_body(reply.json, message_required=expected.status < 500)
        assert error is not None, f"{case.name}: HTTP {reply.status} without vLLM's error body: {reply.text[:300]!r}"
        stated = CONTRACT.states.get(case.name)
        if stated is not None and stated.applies(server_version):
            value = ctx.setting(case.name, stated.setting)
            assert str(value) in re.findall(r"\d+", error.message), (
                f"{case.name}: the error message does not state the server's {stated.setting} {value}: "
                f"{error.message[:300]!r} ({stated.source})")

    health = client.get("/health")
    assert health.status == 200, f"after {case.name}: GET /health answered {health.status}"
    follow_up = client.chat([{"role": "user", "content": QUESTION}], max_completion_tokens=profile.chat.length_cap_tokens)
    problems = chat_reply_problems(follow_up, profile.chat.length_cap_tokens)
    assert not problems, f"after {case.name}, a normal request failed: " + "; ".join(problems)
