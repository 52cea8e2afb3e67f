"""What vLLM's OpenAI-compatible server promises, as checks: the one place that knows its shapes.

Each check returns a list of problems (empty when all is well) so a test can report every deviation at
once. The checks follow what vLLM really sends (see shared/reference), not what the simulator happens to.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import ValidationError

from phi4mm_acceptance.protocol.contract import load_known_bugs
from phi4mm_acceptance.protocol.releases import release_of

FINISH_REASONS = ("stop", "length")


@dataclass(frozen=True)
class ApiErrorBody:
    message: str
    type: str | None
    code: object


def parse_error_body(body: Any, message_required: bool = True) -> ApiErrorBody | None:
    """vLLM >= 0.10.1 nests the error under "error"; older versions send the fields flat. A 500's message is the
    exception's text, which may be empty (measured 0.11: `"message": ""`): `message_required=False` for those."""
    if not isinstance(body, dict):
        return None
    error = body.get("error") if isinstance(body.get("error"), dict) else body
    if body.get("error") is None and body.get("object") != "error":
        return None
    message = error.get("message")
    if not isinstance(message, str) or (message_required and not message.strip()):
        return None
    return ApiErrorBody(message=message, type=error.get("type"), code=error.get("code"))


INPUT_PREFIX_DROPPED_SINCE = (0, 34, 0)  # `input_audio` -> audio: 0.34 entrypoints/serve/engine/serving.py
# _get_message_types drops an `input_` prefix before the part's kind; 0.11-0.33 take the type up to its first "_"


TOKENIZE_COUNTS_MEDIA_SINCE = (0, 17, 0)  # POST /tokenize with chat media counts it as the chat endpoint does:
# source 0.17 (the renderer runs the processor, renderers/base.py), measured 0.18.0, 0.23.0, 0.32.0; up to 0.16 it
# counts only the text and a placeholder an item (measured 0.13.0: 63 where its chat usage said 597), but still
# refuses a modality the model takes none of ("At most 0")
TOKENIZE_MEDIA_CACHE_MISS = load_known_bugs()["tokenize-media-cache-miss"]  # 0.17-0.19: a chat with media that
# /tokenize was sent before answers 500
STREAM_USAGE_BY_DEFAULT_BEFORE = (0, 18, 0)  # stream_options without include_usage: StreamOptions.include_usage
# defaults to True in 0.13-0.17 (source; measured 0.13.0: usage sent), to False from 0.18 (source 0.18-0.34)


def tokenize_counts_media(release: tuple[int, int, int] | None) -> bool:
    """Whether POST /tokenize counts a chat prompt's media as the chat endpoint does, and may be sent them (an
    unreadable version is held to the newest behaviour read)."""
    return release is None or (release >= TOKENIZE_COUNTS_MEDIA_SINCE
                               and not TOKENIZE_MEDIA_CACHE_MISS.affects(release))


def tokenize_may_see_media(release: tuple[int, int, int] | None) -> bool:
    """Whether POST /tokenize may be sent media at all: not where a later chat with them would fail."""
    return not TOKENIZE_MEDIA_CACHE_MISS.affects(release)


def stream_usage_asked(stream_options: dict[str, Any] | None, version: str | None) -> tuple[bool, bool]:
    """(include_usage, continuous usage) as vLLM `version` reads a request's stream_options
    (should_include_usage: continuous only with include_usage)."""
    if not stream_options:
        return False, False
    release = release_of(version)
    default = release is not None and release < STREAM_USAGE_BY_DEFAULT_BEFORE
    include = bool(stream_options.get("include_usage", default))
    return include, include and bool(stream_options.get("continuous_usage_stats"))


def part_kind(part_type: str, release: tuple[int, int, int] | None) -> str:
    """The modality a content part's type names when vLLM picks a --default-mm-loras adapter (an unreadable
    version is held to the newest behaviour read)."""
    if (release is None or release >= INPUT_PREFIX_DROPPED_SINCE) and part_type.startswith("input_"):
        return part_type.removeprefix("input_")
    return part_type.split("_")[0]


def reply_model_name(payload: dict[str, Any], served_name: str, lora_names: frozenset[str],
                     version: str | None = None) -> str:
    """The `model` vLLM `version` names in a chat reply (and every stream chunk): the LoRA adapter it applied,
    else the served name. It applies the LoRA a request names as its model; else, when exactly one LoRA is named
    like a content part's kind (`image_url` -> image, `audio_url` -> audio, `input_audio` -> input up to 0.33 and
    audio from 0.34: part_kind), that one: how `--default-mm-loras` adapters, which are named by modality, are
    chosen. Source: vLLM 0.11 entrypoints/openai/serving_engine.py `_maybe_get_adapters` and
    `_get_active_default_mm_loras`, the same in 0.32-0.34 entrypoints/serve/engine/serving.py (measured 0.32)."""
    requested = payload.get("model")
    if requested in lora_names:
        return str(requested)
    release = release_of(version)
    types = {part_kind(str(part["type"]), release)
             for message in payload.get("messages") or [] if isinstance(message, dict)
             and isinstance(message.get("content"), list)
             for part in message["content"] if isinstance(part, dict) and "type" in part}
    matched = types & lora_names
    return matched.pop() if len(matched) == 1 else served_name


def lora_names_listed(models_body: Any, served_name: str) -> frozenset[str]:
    """The LoRA adapters /v1/models lists for the served model (entries whose parent is it)."""
    if not isinstance(models_body, dict) or not isinstance(models_body.get("data"), list):
        return frozenset()
    return frozenset(str(m.get("id")) for m in models_body["data"]
                     if isinstance(m, dict) and m.get("parent") == served_name and m.get("id"))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def usage_problems(usage: Any, max_completion_tokens: int | None = None) -> list[str]:
    if not isinstance(usage, dict):
        return [f"usage is missing or not an object: {usage!r}"]
    problems = [f"usage.{key} is not a whole number >= 0: {usage.get(key)!r}"
                for key in ("prompt_tokens", "completion_tokens", "total_tokens")
                if not _is_int(usage.get(key)) or usage[key] < 0]
    if problems:
        return problems
    if usage["prompt_tokens"] + usage["completion_tokens"] != usage["total_tokens"]:
        problems.append(f"usage does not add up: prompt_tokens {usage['prompt_tokens']} + completion_tokens "
                        f"{usage['completion_tokens']} != total_tokens {usage['total_tokens']}")
    if usage["prompt_tokens"] == 0:
        problems.append("usage.prompt_tokens is 0 for a non-empty prompt")
    if max_completion_tokens is not None and usage["completion_tokens"] > max_completion_tokens:
        problems.append(f"usage.completion_tokens {usage['completion_tokens']} exceeds max_completion_tokens "
                        f"{max_completion_tokens}")
    return problems


# Keys the OpenAI API's published schema requires (openai-openapi: CreateChatCompletionResponse and
# CreateChatCompletionStreamResponse), nullable ones included, which a type check of the openai package's models
# cannot see (their nullable fields default to None). vLLM 0.11-0.33 sends each: its protocol classes declare
# them, and a reply is dumped whole (stream chunks set them explicitly); measured on 0.32.
REQUIRED_KEYS = {
    "completion": ("id", "object", "created", "model", "choices", "usage"),
    "choice": ("index", "message", "finish_reason", "logprobs"),
    "message": ("role", "content", "refusal"),
    "usage": ("prompt_tokens", "completion_tokens", "total_tokens"),
    "chunk": ("id", "object", "created", "model", "choices"),
    "chunk choice": ("index", "delta", "finish_reason"),
}


def missing_keys(what: str, value: Any) -> list[str]:
    if not isinstance(value, dict):
        return []
    absent = [key for key in REQUIRED_KEYS[what] if key not in value]
    return [f"the {what} lacks the required key(s) {absent} (null is allowed, absent is not)"] if absent else []


def openai_schema_problems(body: dict[str, Any], chunk: bool) -> list[str]:
    """The body against the OpenAI API's published types (the openai package's own models, strictly typed) and
    the keys its schema requires."""
    kind = "chunk" if chunk else "completion"
    problems = missing_keys(kind, body)
    choices = body.get("choices")
    for choice in choices if isinstance(choices, list) else []:
        problems += missing_keys("chunk choice" if chunk else "choice", choice)
        if not chunk and isinstance(choice, dict):
            problems += missing_keys("message", choice.get("message"))
    if body.get("usage") is not None:
        problems += missing_keys("usage", body["usage"])
    try:
        (ChatCompletionChunk if chunk else ChatCompletion).model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"]))
        problems.append(f"not an OpenAI {'ChatCompletionChunk' if chunk else 'ChatCompletion'}: {where}: "
                        f"{first['msg']} (got {first.get('input')!r})"[:300])
    return problems


def chat_completion_problems(body: Any, model: str, max_completion_tokens: int | None, n: int = 1) -> list[str]:
    """A chat completion as vLLM 0.11-0.34 sends it: `n` choices indexed 0..n-1 (the request's `n`), usage summed
    over them (measured 0.32: n=3, 40 tokens each, completion_tokens 120)."""
    if not isinstance(body, dict):
        return [f"response body is not a JSON object: {str(body)[:200]}"]
    problems = openai_schema_problems(body, chunk=False)
    if not isinstance(body.get("id"), str) or not body["id"]:
        problems.append(f"id is missing or empty: {body.get('id')!r}")
    if body.get("object") != "chat.completion":
        problems.append(f"object is {body.get('object')!r}, expected 'chat.completion'")
    if not _is_int(body.get("created")):
        problems.append(f"created is not a unix time: {body.get('created')!r}")
    if body.get("model") != model:
        problems.append(f"model is {body.get('model')!r}, expected {model!r}")
    choices = body.get("choices")
    if not isinstance(choices, list) or len(choices) != n or not all(isinstance(c, dict) for c in choices):
        wanted = "one choice" if n == 1 else f"{n} choices (the request's n)"
        return [*problems, f"choices must hold exactly {wanted}, got {choices!r}"[:300]]
    indexes = [choice.get("index") for choice in choices]
    if indexes != list(range(n)):
        problems.append(f"choices are indexed {indexes}, expected {list(range(n))}")
    for number, choice in enumerate(choices):
        problems += _choice_problems(choice, f"choices[{number}]")
    problems += usage_problems(body.get("usage"), max_completion_tokens and max_completion_tokens * n)
    if n > 1 and not problems and body["usage"]["completion_tokens"] < n:
        problems.append(f"usage.completion_tokens {body['usage']['completion_tokens']} is fewer than the {n} choices: "
                        "each generates at least its last token")
    return problems


def _choice_problems(choice: dict[str, Any], where: str) -> list[str]:
    message = choice.get("message")
    if not isinstance(message, dict):
        return [f"{where}.message is not an object: {message!r}"]
    problems = []
    if message.get("role") != "assistant":
        problems.append(f"{where}.message.role is {message.get('role')!r}, expected 'assistant'")
    if not isinstance(message.get("content"), str):
        problems.append(f"{where}.message.content is not a string: {message.get('content')!r}")
    if choice.get("finish_reason") not in FINISH_REASONS:
        problems.append(f"{where}.finish_reason is {choice.get('finish_reason')!r}, expected one of {FINISH_REASONS}")
    return problems


def stream_problems(
    events: list[str], content_type: str, model: str, include_usage: bool, max_completion_tokens: int | None,
    continuous_usage: bool = False, n: int = 1,
) -> list[str]:
    """Check an SSE stream's `data:` payloads in order, as vLLM frames them (`continuous_usage`: the request's
    stream_options.continuous_usage_stats, with include_usage; `n`: its choices, each streamed by its index)."""
    problems = []
    if not content_type.startswith("text/event-stream"):
        problems.append(f"content-type is {content_type!r}, expected text/event-stream")
    if not events or events[-1] != "[DONE]":
        problems.append("the stream does not end with `data: [DONE]`")
    if events.count("[DONE]") > 1 or ("[DONE]" in events and events.index("[DONE]") != len(events) - 1):
        problems.append("`data: [DONE]` is sent more than once or is followed by more data")
    chunks = []
    for number, event in enumerate(e for e in events if e != "[DONE]"):
        try:
            chunks.append(json.loads(event))
        except json.JSONDecodeError:
            problems.append(f"event {number} is not JSON: {event[:120]!r}")
    if not chunks:
        return [*problems, "the stream carried no chunks"]
    for number, chunk in enumerate(chunks):
        problems += [f"chunk {number}: {problem}" for problem in openai_schema_problems(chunk, chunk=True)]
    problems += _chunk_header_problems(chunks, model)
    by_index = _choices_by_index(chunks)
    if not by_index:
        return [*problems, "no chunk carries a choice"]
    if sorted(by_index, key=str) != list(range(n)):
        problems.append(f"the chunks' choices are indexed {sorted(by_index, key=str)}, expected {list(range(n))}")
    for index, entries in by_index.items():
        problems += [problem if n == 1 else f"choice {index}: {problem}"
                     for problem in _choice_stream_problems(entries)]
    for number, chunk in enumerate(chunks):
        for choice in chunk.get("choices") or []:
            content = (choice.get("delta") or {}).get("content")
            if content is not None and not isinstance(content, str):
                problems.append(f"chunk {number}: delta.content is not a string: {content!r}")
    problems += _stream_usage_problems(chunks, include_usage, max_completion_tokens, continuous_usage, n)
    return problems


def _choices_by_index(chunks: list[dict[str, Any]]) -> dict[Any, list[tuple[int, dict[str, Any]]]]:
    """Each choice index with its (chunk number, choice) entries in order."""
    by_index: dict[Any, list[tuple[int, dict[str, Any]]]] = {}
    for number, chunk in enumerate(chunks):
        for choice in chunk.get("choices") or []:
            if isinstance(choice, dict):
                by_index.setdefault(choice.get("index"), []).append((number, choice))
    return by_index


def _choice_stream_problems(entries: list[tuple[int, dict[str, Any]]]) -> list[str]:
    """One choice's deltas: the role first, then content, exactly one finish_reason and nothing after it."""
    problems = []
    first_delta = entries[0][1].get("delta") or {}
    if first_delta.get("role") != "assistant":
        problems.append(f"the first delta has role {first_delta.get('role')!r}, expected 'assistant'")
    finishing = [position for position, (_, choice) in enumerate(entries) if choice.get("finish_reason")]
    if len(finishing) != 1:
        return [*problems, f"{len(finishing)} chunks carry a finish_reason, expected exactly one"]
    reason = entries[finishing[0]][1]["finish_reason"]
    if reason not in FINISH_REASONS:
        problems.append(f"finish_reason is {reason!r}, expected one of {FINISH_REASONS}")
    if finishing[0] != len(entries) - 1:
        problems.append("choices follow the chunk that carried the finish_reason")
    return problems


def _chunk_header_problems(chunks: list[dict[str, Any]], model: str) -> list[str]:
    problems = []
    ids = {c.get("id") for c in chunks}
    if len(ids) != 1 or not all(isinstance(i, str) and i for i in ids):
        problems.append(f"chunks do not share one id: {sorted(map(str, ids))[:3]}")
    objects = {c.get("object") for c in chunks}
    if objects != {"chat.completion.chunk"}:
        problems.append(f"chunk object is {sorted(map(str, objects))}, expected 'chat.completion.chunk'")
    models = {c.get("model") for c in chunks}
    if models != {model}:
        problems.append(f"chunk model is {sorted(map(str, models))}, expected {model!r}")
    if not all(_is_int(c.get("created")) for c in chunks):
        problems.append("a chunk has no unix `created` time")
    return problems


def _stream_usage_problems(chunks: list[dict[str, Any]], include_usage: bool, max_tokens: int | None,
                           continuous: bool, n: int = 1) -> list[str]:
    """Usage only where asked: in the last chunk (empty choices) with include_usage, summed over the n choices;
    with continuous_usage_stats too in every chunk before it, counting the tokens its choice has generated so far
    (vLLM 0.11-0.34 should_include_usage and chat_completion_stream_generator; measured 0.32 with n=2)."""
    with_usage = [i for i, c in enumerate(chunks) if c.get("usage") is not None]
    if not include_usage:
        return ["usage was sent although stream_options.include_usage was not set"] if with_usage else []
    expected = list(range(len(chunks))) if continuous else [len(chunks) - 1]
    if with_usage != expected:
        return [f"with include_usage{' and continuous_usage_stats every chunk' if continuous else ' exactly the last chunk'}"
                f" must carry usage; chunks {with_usage} of {len(chunks)} do"]
    last = chunks[-1]
    problems = [] if last.get("choices") == [] else ["the usage chunk must have empty choices"]
    problems += usage_problems(last["usage"], max_tokens and max_tokens * n)
    if continuous and not problems:
        problems += _continuous_usage_problems(chunks[:-1], last["usage"])
    return problems


def _continuous_usage_problems(running: list[dict[str, Any]], final: dict[str, Any]) -> list[str]:
    """Each chunk's usage counts its own choice's tokens so far; the final usage sums each choice's last count."""
    if any(chunk["usage"].get("prompt_tokens") != final["prompt_tokens"] for chunk in running):
        return ["continuous usage: prompt_tokens changes between chunks"]
    counts: dict[Any, list[Any]] = {}
    for chunk in running:
        usage = chunk["usage"]
        if usage.get("total_tokens") != usage.get("prompt_tokens", 0) + (usage.get("completion_tokens") or 0):
            return [f"continuous usage does not add up: {usage}"]
        for choice in chunk.get("choices") or [{}]:
            counts.setdefault(choice.get("index"), []).append(usage.get("completion_tokens"))
    if any(series != sorted(series) for series in counts.values()) or sum(
            series[-1] or 0 for series in counts.values()) != final["completion_tokens"]:
        shown = counts[0] if list(counts) == [0] else counts
        return [f"continuous usage does not count the tokens generated so far: completion_tokens {shown} "
                f"then {final['completion_tokens']}"]
    return []


def models_problems(body: Any, served_model_name: str, max_model_len: int) -> list[str]:
    if not isinstance(body, dict) or body.get("object") != "list" or not isinstance(body.get("data"), list):
        return [f"/v1/models is not an object list: {str(body)[:200]}"]
    entry = next((m for m in body["data"] if isinstance(m, dict) and m.get("id") == served_model_name), None)
    if entry is None:
        listed = [m.get("id") for m in body["data"] if isinstance(m, dict)]
        return [f"/v1/models does not list {served_model_name!r}; it lists {listed}"]
    problems = []
    if entry.get("object") != "model":
        problems.append(f"model entry object is {entry.get('object')!r}, expected 'model'")
    if entry.get("max_model_len") != max_model_len:
        problems.append(f"max_model_len is {entry.get('max_model_len')!r}, the profile expects {max_model_len}")
    return problems


def lora_problems(body: Any, served_model_name: str, lora_names: list[str]) -> list[str]:
    """Each LoRA module is listed by /v1/models as a model whose parent is the served model."""
    entries = {m.get("id"): m for m in body.get("data", []) if isinstance(m, dict)} if isinstance(body, dict) else {}
    problems = []
    for name in lora_names:
        if name not in entries:
            problems.append(f"LoRA adapter {name!r} is not listed by /v1/models (listed: {sorted(map(str, entries))})")
        elif entries[name].get("parent") != served_model_name:
            problems.append(f"LoRA adapter {name!r} has parent {entries[name].get('parent')!r}, expected "
                            f"{served_model_name!r}")
    return problems


def resident_memory_mb(metrics_text: str) -> float | None:
    """The API server process's resident memory from GET /metrics (`process_resident_memory_bytes`,
    prometheus_client's process collector; absent in vLLM's multi-API-server mode), in MB."""
    for line in metrics_text.splitlines():
        if line.startswith("process_resident_memory_bytes "):
            return float(line.split()[1]) / 1e6
    return None
