"""Turning a /v1/chat/completions body into a generation plan, with vLLM's validation and messages.

Pure logic, no I/O but media fetching: the HTTP layer streams or returns what the plan says.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from simulator.claimed import ClaimedVersion
from simulator.errors import ApiError
from simulator.faults.base import Fault
from simulator.media import (
    ActiveCaps,
    Audio,
    FetchError,
    Image,
    MediaCaps,
    MediaError,
    decode_audio,
    decode_base64,
    load_image,
    load_url_bytes,
    uuid_key,
)
from simulator.mm_cache import ProcessorCache
from simulator.model import MESSAGE_OVERHEAD_TOKENS, FakeModel, Serving, count_text_tokens, split_into_tokens

if TYPE_CHECKING:
    from simulator.faults import Faults


@dataclass(frozen=True)
class ServingLimits:
    served_names: tuple[str, ...]
    max_model_len: int
    mm_limits: dict[str, int]
    fetch_timeout_s: float = 5.0
    claimed: ClaimedVersion = ClaimedVersion()
    loras: dict[str, str] = field(default_factory=dict)  # name -> adapter folder: --lora-modules, and each
    # --default-mm-loras modality, which vLLM loads as a LoRA named by the modality (listed by /v1/models)
    mm_cache: ProcessorCache = field(default_factory=lambda: ProcessorCache(0))
    media_caps: MediaCaps = field(default_factory=MediaCaps)
    enforce_media_caps: bool = True  # False: the no_media_limits fault
    max_logprobs: int = 20  # --max-logprobs

    def applied_lora(self, model: str, messages: list[Any]) -> str | None:
        """The LoRA vLLM applies (0.11-0.34 `_maybe_get_adapters`): the one the request names as its model, else
        the only LoRA named like a content part's kind (how the modality-named --default-mm-loras adapters are
        picked: ClaimedVersion.lora_kind)."""
        if model in self.loras:
            return model
        types = {self.claimed.lora_kind(str(part["type"])) for message in messages if isinstance(message, dict)
                 and isinstance(message.get("content"), list)
                 for part in message["content"] if isinstance(part, dict) and "type" in part}
        matched = types & set(self.loras)
        return matched.pop() if len(matched) == 1 else None

    def serving(self, lora: str | None) -> Serving:
        """An adapter counts as vision or speech by its folder name (the snapshot's vision-lora, speech-lora)."""
        folder = self.loras[lora].rstrip("/").rsplit("/", 1)[-1] if lora else ""
        return Serving(vision_lora="vision" in folder, speech_lora="speech" in folder)


@dataclass(frozen=True)
class Prompt:
    """What a chat request asks, with the media as the engine gets them: what the answer's faults go by."""

    body: dict[str, Any]
    question: str
    items: list[Image | Audio]
    tokens: int


@dataclass(frozen=True)
class Sampling:
    """How the engine generates one request's answer (vLLM's SamplingParams, where faults change it)."""

    max_tokens: int
    n: int
    ignore_eos: bool = False
    stops_at_max_tokens: bool = True


@dataclass(frozen=True)
class ChatPlan:
    model: str
    prompt_tokens: int
    pieces: tuple[str, ...]
    finish_reason: str
    stream: bool
    include_usage: bool
    stop_reason: str | None = None  # the stop string that ended the answer, as vLLM reports it
    logprobs: dict[str, Any] | None = None  # choices[0].logprobs when the request asks for them
    continuous_usage: bool = False  # stream_options.continuous_usage_stats with include_usage: usage in every chunk
    n: int = 1  # choices, each the same answer here (the fake model samples nothing)
    encoded_images: int = 0  # pictures the processor cache did not hold: the vision encoder ran for them
    encoded_audio_s: float = 0.0  # seconds of audio the speech encoder ran for

    @property
    def completion_tokens(self) -> int:
        """The tokens of one choice: what its generation takes."""
        return len(self.pieces)

    @property
    def usage_completion_tokens(self) -> int:
        """usage.completion_tokens: summed over the choices, as vLLM counts them."""
        return self.n * len(self.pieces)


def plan_chat(body: Any, limits: ServingLimits, model: FakeModel, faults: Faults) -> ChatPlan:
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object.")
    name = body.get("model") or limits.served_names[0]
    if name not in limits.served_names and name not in limits.loras:
        raise ApiError(404, f"The model `{name}` does not exist.", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "Field required: messages must be a non-empty list.", "messages")
    stream = _bool(body, "stream")
    stream_options = body.get("stream_options")
    if stream_options is not None and not stream:
        raise ApiError(400, "Stream options can only be defined when `stream=True`.", "stream_options")
    include_usage = bool(stream_options and stream_options.get("include_usage",
                                                                limits.claimed.stream_usage_by_default))
    continuous_usage = include_usage and bool(stream_options.get("continuous_usage_stats"))  # should_include_usage
    max_tokens = _max_tokens(body, limits.claimed)
    n = _n(body, _temperature(body))

    prompt_tokens, question, items = read_prompt(messages, limits, faults)

    if max_tokens is None:
        if prompt_tokens >= limits.max_model_len:
            raise ApiError(400, _overflow_message(limits.max_model_len, prompt_tokens, 0), "messages")
        max_tokens = limits.max_model_len - prompt_tokens
    elif prompt_tokens + max_tokens > limits.max_model_len:
        if not (limits.claimed.clamps_completion_to_context and max_tokens <= limits.max_model_len
                and prompt_tokens < limits.max_model_len):
            raise ApiError(400, _overflow_message(limits.max_model_len, prompt_tokens, max_tokens), "messages")
        max_tokens = limits.max_model_len - prompt_tokens

    lora = limits.applied_lora(name, messages)
    items = faults.apply(Fault.engine_media, items)
    encoded_images, encoded_audio_s = 0, 0.0
    for item in items:
        if limits.mm_cache.add(item.cache_key, item.processed_bytes(), item):
            encoded_images += isinstance(item, Image)
            encoded_audio_s += item.duration_s if isinstance(item, Audio) else 0.0
    serving = faults.apply(Fault.serving, limits.serving(lora))
    prompt = Prompt(body, question, items, prompt_tokens)
    answer = faults.apply(Fault.answer, model.answer(question, items, serving), prompt)
    pieces = faults.apply(Fault.tokens, split_into_tokens(answer), prompt)
    sampling = faults.apply(Fault.sampling, Sampling(max_tokens, n, ignore_eos=body.get("ignore_eos") is True))
    if sampling.ignore_eos:  # vLLM's extension: generate until the cap, as benchmarks ask
        pieces = [pieces[i % len(pieces)] for i in range(max_tokens)]
    at_least = min(_min_tokens(body), max_tokens)
    if pieces and len(pieces) < at_least:  # vLLM's `min_tokens`: no end of sequence before that many tokens
        pieces = [pieces[i % len(pieces)] for i in range(at_least)]
    finish_reason = "stop"
    if len(pieces) > max_tokens and sampling.stops_at_max_tokens:
        pieces, finish_reason = pieces[:max_tokens], "length"
    elif sampling.ignore_eos and sampling.stops_at_max_tokens:
        finish_reason = "length"
    pieces, stop_reason = _apply_stop(pieces, _stop_strings(body))
    if stop_reason is not None:
        finish_reason = "stop"
    return faults.apply(Fault.plan, ChatPlan(
        lora or limits.served_names[0], prompt_tokens, tuple(pieces), finish_reason, stream, include_usage, stop_reason,
        _logprobs(body, pieces, serving, limits.max_logprobs), continuous_usage, sampling.n, encoded_images,
        encoded_audio_s))


def _logprobs(body: dict[str, Any], pieces: list[str], serving: Serving, most: int) -> dict[str, Any] | None:
    """vLLM's chat logprobs: each generated token with its log-probability and the `top_logprobs` most likely,
    at most --max-logprobs (`most`). The fake weights give each (token, position) a fixed value, which an applied
    adapter shifts."""
    if not _bool(body, "logprobs"):
        return None
    top = body.get("top_logprobs") or 0
    if not isinstance(top, int) or isinstance(top, bool) or top < 0:
        raise ApiError(400, f"top_logprobs must be a non-negative integer, got {top!r}.", "top_logprobs")
    if top > most:  # measured 0.32
        raise ApiError(400, f"Requested sample logprobs of {top}, which is greater than max allowed: {most} "
                            f"(parameter=logprobs, value={top})", "logprobs")
    adapter = f"{serving.vision_lora}{serving.speech_lora}"

    def value(token: str, position: int) -> float:
        return -0.05 - zlib.crc32(f"{adapter}|{position}|{token}".encode()) % 4000 / 1000

    content = []
    for position, piece in enumerate(pieces):
        chosen = value(piece, position) / 8  # the greedy token: the most likely one
        others = [(f"{piece}{n}", value(f"{piece}{n}", position) - 1.0) for n in range(top - 1)]
        entries = sorted([(piece, chosen), *others], key=lambda entry: -entry[1])[:top]
        content.append({"token": piece, "logprob": chosen, "bytes": list(piece.encode()),
                        "top_logprobs": [{"token": t, "logprob": v, "bytes": list(t.encode())} for t, v in entries]})
    return {"content": content}


def _stop_strings(body: dict[str, Any]) -> list[str]:
    stop = body.get("stop")
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop]
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise ApiError(400, "stop must be a string or a list of strings.", "stop")
    return [s for s in stop if s]


def _apply_stop(pieces: list[str], stops: list[str]) -> tuple[list[str], str | None]:
    """vLLM's stop strings: generation ends with the token that completes the first stop string to appear;
    the text ends right before it (the tokens spent on it still count as generated)."""
    text = "".join(pieces)
    found = [(text.find(stop), stop) for stop in stops if stop in text]
    if not found:
        return pieces, None
    at, stop = min(found)
    kept, length = [], 0
    for piece in pieces:
        kept.append(piece[:max(0, at - length)])
        length += len(piece)
        if length >= at + len(stop):
            break
    return kept, stop


def read_prompt(messages: list[Any], limits: ServingLimits, faults: Faults) -> tuple[int, str, list[Image | Audio]]:
    """The prompt's token count (text and media, as the model counts them), the last user text and the media;
    shared by chat and POST /tokenize, which in vLLM count the same prompt the same way."""
    prompt_tokens = 1
    question = ""
    items: list[Image | Audio] = []
    for index, message in enumerate(messages):
        text, media = _read_message(message, index, limits)
        prompt_tokens += MESSAGE_OVERHEAD_TOKENS + count_text_tokens(text)
        if message.get("role") == "user":
            question = text
        items += media
    items = faults.apply(Fault.prompt_media, items)
    prompt_tokens += sum(item.token_count() for item in items)
    _check_media_limits(items, limits)
    return prompt_tokens, question, items


def _bool(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ApiError(400, f"Input should be a valid boolean: {key}", key)
    return value


def _max_tokens(body: dict[str, Any], claimed: ClaimedVersion) -> int | None:
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if value is None:
            continue
        if value == 0 and not isinstance(value, bool) and claimed.zero_max_tokens_is_unset:
            continue  # `max_completion_tokens or max_tokens` up to 0.15
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ApiError(400, f"{key} must be at least 1, got {value!r}.", key)
        return value
    return None


def _min_tokens(body: dict[str, Any]) -> int:
    value = body.get("min_tokens", 0)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ApiError(400, f"min_tokens must be greater than or equal to 0, got {value!r}.", "min_tokens")
    return value


def _temperature(body: dict[str, Any]) -> float:
    """The request's temperature; unset is sampling (vLLM's default 1.0, where the model's generation config sets
    none)."""
    value = body.get("temperature")
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
        raise ApiError(400, f"temperature must be a non-negative number, got {value!r}.", "temperature")
    return 1.0 if value is None else float(value)


def _n(body: dict[str, Any], temperature: float) -> int:
    """vLLM 0.11-0.34 SamplingParams: n at least 1, and 1 when greedy (measured 0.32: both 400, param null)."""
    value = body.get("n")
    if value is None:
        return 1
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ApiError(400, f"n must be at least 1, got {value!r}.")
    if value > 1 and temperature < 1e-5:
        raise ApiError(400, f"n must be 1 when using greedy sampling, got {value}.")
    return value


def _read_message(message: Any, index: int, limits: ServingLimits) -> tuple[str, list[Image | Audio]]:
    where = f"messages[{index}]"
    if not isinstance(message, dict) or not isinstance(message.get("role"), str):  # vLLM lets custom roles through
        raise ApiError(400, f"{where}.role: Field required", where)
    content = message.get("content")
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        raise ApiError(400, f"{where}.content: Input should be a valid string or list of content parts.", where)
    texts: list[str] = []
    items: list[Image | Audio] = []
    for number, part in enumerate(content):
        texts_or_item = _read_part_or_uuid(part, f"{where}.content[{number}]", limits, items)
        if isinstance(texts_or_item, str):
            texts.append(texts_or_item)
        else:
            items.append(texts_or_item)
    return "\n".join(texts), items


MEDIA_PARTS = {"image_url": "image", "input_audio": "audio", "audio_url": "audio"}


def _read_part_or_uuid(part: Any, where: str, limits: ServingLimits,
                       earlier: list[Image | Audio]) -> str | Image | Audio:
    """A media part's optional `uuid` names its item in the processor cache in place of its content hash (vLLM
    0.11-0.34: the item is kept under it, Image.cache_key), and a part with the uuid and no data
    (`"image_url": null`) is served from there, or refused (measured 0.32: 400 "Cache miss for image at index 0
    but data is not provided.")."""
    kind = part.get("type") if isinstance(part, dict) else None
    uid = part.get("uuid") if kind in MEDIA_PARTS else None
    if uid is not None and not isinstance(uid, str):
        raise ApiError(400, f"{where}.uuid: Input should be a valid string", where)
    if uid is None:
        return _read_part(part, where, limits)
    modality = MEDIA_PARTS[kind]
    if part.get(kind) is None:
        if refusal := limits.claimed.uuid_reference_refusal(kind):
            raise ApiError(*refusal)
        cached = limits.mm_cache.get(uuid_key(uid))
        if cached is None:
            index = sum(isinstance(item, Image if modality == "image" else Audio) for item in earlier)
            raise ApiError(400, f"Cache miss for {modality} at index {index} but data is not provided.")
        return cached
    if kind == "input_audio" and limits.claimed.input_audio_uuid_drops_data:
        raise ApiError(500, "Expected code to be unreachable, but got: None")
    item = _read_part(part, where, limits)
    return replace(item, uuid=uid) if isinstance(item, (Image, Audio)) else item


def _read_part(part: Any, where: str, limits: ServingLimits) -> str | Image | Audio:
    kind = part.get("type") if isinstance(part, dict) else None
    try:
        if kind == "text" and isinstance(part.get("text"), str):
            return part["text"]
        caps = limits.media_caps.claimed_by(limits.claimed) if limits.enforce_media_caps else ActiveCaps()
        if kind == "image_url" and isinstance(part.get("image_url"), dict) and isinstance(part["image_url"].get("url"), str):
            return load_image(part["image_url"]["url"], limits.fetch_timeout_s, caps.download_bytes)
        if kind == "input_audio" and isinstance(part.get("input_audio"), dict):
            audio = part["input_audio"]
            if audio.get("format") != "wav" or not isinstance(audio.get("data"), str):
                raise MediaError("input_audio needs base64 'data' and format 'wav'.")
            caps.check_audio_base64(audio["data"])
            return caps.checked_audio(decode_audio(decode_base64(audio["data"], "input_audio")))
        if kind in ("image_embeds", "audio_embeds") and (refusal := limits.claimed.embeds_refusal(kind)):
            raise ApiError(*refusal)
        if kind == "image_embeds" and isinstance(part.get(kind), str):  # 0.11.0: base64 decoded (not base64:
            decode_base64(part[kind], kind)  # 400), then torch.load'ed: bytes that are no pickled tensor, a 500
            raise ApiError(500, "Weights only load failed. WeightsUnpickler error: Unsupported operand 110",
                           raised=True)
        if kind == "audio_url" and isinstance(part.get("audio_url"), dict) and isinstance(part["audio_url"].get("url"), str):
            return caps.checked_audio(decode_audio(load_url_bytes(part["audio_url"]["url"], limits.fetch_timeout_s,
                                                                  caps.download_bytes)))
    except FetchError as exc:
        if exc.http_status is None:  # nothing answered: an aiohttp error, a 500 in every release
            raise ApiError(500, str(exc), raised=True) from None
        status = limits.claimed.fetch_failure_status(exc.http_status)
        raise ApiError(status, str(exc), kind if status == 422 else None, raised=True) from None
    except MediaError as exc:
        status = getattr(limits.claimed, exc.kind) if exc.kind else 400
        raise ApiError(status, f"{where}: {exc}", exc.param or (where if status == 400 else None)) from None
    status = limits.claimed.unknown_part_status
    raise ApiError(
        status,
        f"Unknown part type: {kind}" if status == 501 else
        f"1 validation error for ChatCompletionRequest {where}: unknown or malformed content part "
        f"of type {kind!r}; expected 'text', 'image_url', 'input_audio' or 'audio_url'.",
        where if status == 400 else None, raised=status == 501,
    )


def _check_media_limits(items: list[Image | Audio], limits: ServingLimits) -> None:
    counts = {"image": sum(isinstance(i, Image) for i in items), "audio": sum(isinstance(i, Audio) for i in items)}
    for modality, count in counts.items():
        limit = limits.mm_limits.get(modality, 1)
        if count > limit:
            raise ApiError(400, f"At most {limit} {modality}(s) may be provided in one prompt.", "messages")


def _overflow_message(max_model_len: int, prompt: int, completion: int) -> str:
    return (
        f"This model's maximum context length is {max_model_len} tokens. However, you requested "
        f"{prompt + completion} tokens ({prompt} in the messages, {completion} in the completion). "
        "Please reduce the length of the messages or completion."
    )
