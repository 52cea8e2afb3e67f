"""Verdicts on replies, as lists of problems, so tests assert one thing and show every deviation."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from phi4mm_acceptance.protocol.client import ChatClient, HttpReply, ServerUnreachable, StreamReply, parse_json
from phi4mm_acceptance.protocol.contract import load_known_bugs
from phi4mm_acceptance.protocol.vllm_api import chat_completion_problems, parse_error_body, stream_problems

ERROR_WITH_HTTP_200 = load_known_bugs()["error-body-with-http-200"]


def describe_error(status: int, text: str) -> str:
    error = parse_error_body(parse_json(text))
    return f"HTTP {status}: {error.message if error else text[:300]!r}"


def error_with_http_200(reply: HttpReply, version: str | None = None) -> str | None:
    """A 200 whose body is vLLM's error object: the bug of 0.15.0-0.16.0 (contract/vllm-bugs.toml), named."""
    error = parse_error_body(reply.json) if reply.status == 200 else None
    if error is None:
        return None
    return (f"HTTP 200 carrying an error (code {error.code}: {error.message[:200]!r}): "
            + ERROR_WITH_HTTP_200.describe(version))


def chat_reply_problems(reply: HttpReply, max_completion_tokens: int | None, n: int = 1) -> list[str]:
    """A chat reply (ChatClient.chat) against vLLM's schema, the model name vLLM gives it, the cap and the
    request's `n`."""
    if reply.status != 200:
        return [describe_error(reply.status, reply.text)]
    if bug := error_with_http_200(reply):
        return [bug]
    return chat_completion_problems(reply.json, reply.expected_model or "", max_completion_tokens, n)


def stream_reply_problems(reply: StreamReply, max_completion_tokens: int | None,
                          include_usage: bool = True, continuous_usage: bool = False, n: int = 1) -> list[str]:
    if reply.status != 200:
        return [describe_error(reply.status, reply.error_text)]
    problems = [f"line outside SSE `data:` framing: {line[:120]!r}" for line in reply.stray_lines]
    return problems + stream_problems(reply.events, reply.content_type, reply.expected_model or "", include_usage,
                                      max_completion_tokens, continuous_usage, n)


def answer_text(reply: HttpReply) -> str:
    return reply.json["choices"][0]["message"]["content"]


def greedy_answer(client: ChatClient, messages: list[dict[str, Any]], max_tokens: int, **params: Any) -> str:
    """One chat at temperature 0 that must come back well formed; its text."""
    reply = client.chat(messages, max_completion_tokens=max_tokens, temperature=0, **params)
    problems = chat_reply_problems(reply, max_tokens)
    assert not problems, "; ".join(problems)
    return answer_text(reply)


TokenLogprobs = list[dict[str, float]]  # per generated position: token -> logprob, the chosen and the top ones


def greedy_logprobs(client: ChatClient, messages: list[dict[str, Any]], max_tokens: int, top: int = 5,
                    **params: Any) -> tuple[list[str], TokenLogprobs]:
    """One chat at temperature 0, computed afresh (a cache_salt), with vLLM's logprobs: the tokens it chose and,
    at each position, the log-probabilities of the chosen and the `top` most likely tokens."""
    reply = client.chat(messages, max_completion_tokens=max_tokens, temperature=0, logprobs=True, top_logprobs=top,
                        cache_salt=uuid.uuid4().hex, **params)
    problems = chat_reply_problems(reply, max_tokens)
    logprobs = (reply.json["choices"][0].get("logprobs") or {}).get("content") if not problems else None
    if not problems and not isinstance(logprobs, list):
        problems.append(f"logprobs were asked for, choices[0].logprobs is {reply.json['choices'][0].get('logprobs')!r}")
    assert not problems, "; ".join(problems)
    return ([entry["token"] for entry in logprobs],
            [{entry["token"]: entry["logprob"], **{t["token"]: t["logprob"] for t in entry.get("top_logprobs") or []}}
             for entry in logprobs])


def logprob_change(one: tuple[list[str], TokenLogprobs], other: tuple[list[str], TokenLogprobs]) -> float:
    """How far two greedy runs of the same prompt computed apart: the largest difference in the log-probability
    of a token both list at a position, up to and including the first position where they chose differently
    (after it they continue different texts); a choice that differs counts as at least 1 nat."""
    (tokens_a, lp_a), (tokens_b, lp_b) = one, other
    change = 0.0
    for position, (a, b) in enumerate(zip(lp_a, lp_b)):
        shared = set(a) & set(b)
        change = max(change, *(abs(a[t] - b[t]) for t in shared)) if shared else max(change, 1.0)
        if tokens_a[position] != tokens_b[position]:
            return max(change, 1.0)
    return change


@dataclass
class StreamedAndPlain:
    plain: HttpReply
    streamed: StreamReply | None = None
    problems: list[str] = field(default_factory=list)


def stream_and_plain(client: ChatClient, messages: list[dict[str, Any]], max_tokens: int,
                     **params: Any) -> StreamedAndPlain:
    """The same chat plain and streamed at temperature 0: each well formed, the same text and usage. Each has
    its own cache_salt: vLLM promises no identical output when the second request reuses the first one's
    prefix cache (shared/reference/vllm-behaviour.md), only when both compute the prompt afresh."""
    salts = {"plain": uuid.uuid4().hex, "streamed": uuid.uuid4().hex}
    plain = client.chat(messages, max_completion_tokens=max_tokens, cache_salt=salts["plain"], **params)
    result = StreamedAndPlain(plain, problems=["non-streamed: " + p for p in chat_reply_problems(plain, max_tokens)])
    if result.problems:
        return result
    streamed = client.stream_chat(messages, max_completion_tokens=max_tokens, cache_salt=salts["streamed"], **params)
    result.streamed, result.problems = streamed, ["streamed: " + p for p in stream_reply_problems(streamed, max_tokens)]
    if result.problems:
        return result
    if streamed.content != answer_text(plain):
        result.problems.append(text_difference(streamed.content, answer_text(plain), salts))
    keys = ("prompt_tokens", "completion_tokens", "total_tokens")
    if [streamed.usage[k] for k in keys] != [plain.json["usage"][k] for k in keys]:
        result.problems.append(f"streamed usage {streamed.usage} differs from non-streamed usage "
                               f"{plain.json['usage']}")
    return result


def text_difference(streamed: str, plain: str, salts: dict[str, str]) -> str:
    """Where the streamed text leaves the plain one, and that neither reused the other's prefix cache."""
    at = common_prefix(streamed, plain)
    start = max(0, at - 40)
    return (f"streamed answer differs from the non-streamed one at temperature 0 from character {at}, though "
            f"both were computed afresh (cache_salt {salts['plain'][:8]}... plain, {salts['streamed'][:8]}... "
            f"streamed: no prefix-cache reuse, so no cache hit explains it):\n"
            f"  streamed: {streamed[start:at + 80]!r} ({len(streamed)} characters)\n"
            f"  plain:    {plain[start:at + 80]!r} ({len(plain)} characters)")


def media_token_problems(client: ChatClient, without: list[dict[str, Any]], with_media: list[dict[str, Any]],
                         cap: int, what: str) -> tuple[dict[str, int], list[str]]:
    """The prompt tokens of the same request without and with its media: the media must add tokens, and each
    count must be what POST /tokenize says for that prompt, where the server has it."""
    usage: dict[str, int] = {}
    for label, messages in (("without", without), ("with", with_media)):
        reply = client.chat(messages, max_completion_tokens=cap)
        problems = chat_reply_problems(reply, cap)
        if problems:
            return usage, [f"{label} the {what}: " + p for p in problems]
        usage[label] = reply.json["usage"]["prompt_tokens"]
        counted = client.prompt_tokens(messages)
        if counted not in (None, usage[label]):
            return usage, [f"{label} the {what}: usage.prompt_tokens is {usage[label]}, POST /tokenize counts "
                           f"{counted} for the same prompt"]
    if usage["with"] <= usage["without"]:
        return usage, [f"prompt_tokens with the {what} ({usage['with']}) is not above without it "
                       f"({usage['without']}): the server did not feed the {what} to the model"]
    return usage, []


def common_prefix(a: str, b: str) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def leading_half_shared(one: str, other: str) -> bool:
    """The two texts are the same, or agree on at least the first half of the shorter one."""
    return one == other or common_prefix(one, other) >= max(1, min(len(one), len(other)) // 2 + 1)


def mixup_problems(first: str, other: str, again: str, names: tuple[str, str]) -> list[str]:
    """Answers to one question about image A, then B, then A again (as many tokens each): B's must not begin
    as A's for half of it (a cache that ignores the image hands B A's answer, or A's leading blocks), and A's
    two must agree on their leading half (vLLM promises no bit-identical output across batches: judge a span)."""
    a, b = names
    problems = [f"image {b} got image {a}'s answer{'' if answer == other else ' for its leading half'} "
                f"({common_prefix(answer, other)} of {len(other)} characters the same): {other[:120]!r} against "
                f"{answer[:120]!r}" for answer in dict.fromkeys((first, again)) if leading_half_shared(answer, other)]
    if not problems and not leading_half_shared(first, again):
        problems.append(f"image {a} answered twice parts within its first half (at character "
                        f"{common_prefix(first, again)}), as if another request's cache answered: "
                        f"{first[:120]!r} then {again[:120]!r}")
    return problems


def stop_string_for(answer: str, length: int = 3) -> str | None:
    """A stop string from the second half of an unstopped answer, preferably one whose first occurrence leaves
    text before it (a repetitive random-weight answer may offer none: then the answer stops empty)."""
    candidates = [answer[start:start + length] for start in range(len(answer) // 2, len(answer) - length + 1)]
    candidates = [c for c in candidates if c.strip()]
    return next((c for c in candidates if answer.index(c) > 0), candidates[0] if candidates else None)


def probe_statuses(client: ChatClient) -> str:
    """What the health probes answer, to show they say healthy while chat is stuck."""
    answers = []
    for path in ("/health", "/version", "/v1/models"):
        try:
            answers.append(f"{path} {client.get(path).status}")
        except ServerUnreachable:
            answers.append(f"{path} not answering")
    return ", ".join(answers)
