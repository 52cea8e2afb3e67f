"""The suite's own load generator: streamed chat requests at a Poisson rate or a fixed concurrency, with
text prompts of a requested length and optional pictures and spoken clips, each request's its own, or a
production mix of text, picture and speech requests in one load.

Timing follows vllm bench's definitions (see performance/metrics). To keep the client's own delay out of the
figures, requests are pre-serialised, connections are opened before the clock starts (rawhttp), arrivals
are scheduled on absolute times, and every chunk is dated by when its bytes reached this host (the kernel's
stamp on plain TCP); all parsing waits until a response is complete.
"""
from __future__ import annotations

import asyncio
import json
import random
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from phi4mm_acceptance.deployment.endpoint import Endpoint
from phi4mm_acceptance.deployment.profile import REQUEST_KINDS, PerformanceSpec
from phi4mm_acceptance.performance.metrics import RequestRecord, summarise
from phi4mm_acceptance.performance.rawhttp import ConnectionPool, HttpStatusError
from phi4mm_acceptance.protocol.client import chat_payload
from phi4mm_acceptance.protocol.media import audio_url_part, image_part
from phi4mm_acceptance.protocol.odd_media import distinct_clip_url, distinct_image_url

WORDS = ("time", "year", "people", "way", "day", "man", "thing", "woman", "life", "child", "world", "school",
         "state", "family", "student", "group", "country", "problem", "hand", "part", "place", "case", "week",
         "company", "system", "program", "question", "work", "government", "number", "night", "point", "home",
         "water", "room", "mother", "area", "money", "story", "fact", "month", "lot", "right", "study", "book")


USAGE_COUNTS = ("prompt_tokens", "completion_tokens")


@dataclass(frozen=True)
class LoadShape:
    num_prompts: int
    input_len: int
    output_len: int
    request_rate: float = float("inf")  # requests per second; inf sends them all at once
    max_concurrency: int | None = None
    images: int = 0  # distinct images attached to each request: no two requests share one
    image_px: int = 448  # their side
    first_item: int = 0  # the number of its first picture and first clip (protocol.odd_media): a load's own
    clips: int = 0  # distinct spoken clips attached to each request, as audio_url (the speech adapter's part)
    clip_s: float = 10.0  # their length
    speech: bytes = b""  # the spoken WAV they are made of
    seed: int = 0
    request_id_prefix: str = ""  # sends x-request-id: <prefix><i>, to match server-side logs
    mix: tuple[tuple[str, float], ...] = ()  # production traffic: REQUEST_KINDS' shares; () all carry both media

    @classmethod
    def of(cls, load: PerformanceSpec, speech: bytes, **changes: Any) -> LoadShape:
        """A profile's load, its media never sent before (a random first item), with `changes` (a capacity
        step's concurrency and request count)."""
        fields = {"num_prompts": load.num_prompts, "input_len": load.input_len, "output_len": load.output_len,
                  "request_rate": load.request_rate, "max_concurrency": load.max_concurrency, "images": load.images,
                  "image_px": load.image_px, "clips": load.clips, "clip_s": load.clip_s,
                  "speech": speech if load.clips else b"", "first_item": secrets.randbelow(1 << 40),
                  "mix": load.mix}
        return cls(**(fields | changes))


def request_images(shape: LoadShape, number: int) -> list[str]:
    """The number-th request's images, each drawn afresh: a picture sent once is the vision encoder's work every
    time, where one picture on every request is processed once and then served from vLLM's processor and prefix
    caches (which hid a 2x slower image path in 1 TTFT of 50)."""
    first = shape.first_item + number * shape.images
    return [distinct_image_url(first + offset, shape.image_px) for offset in range(shape.images)]


def request_clips(shape: LoadShape, number: int) -> list[str]:
    """The number-th request's spoken clips, each its own (the speech looped to clip_s, marked by its number)."""
    first = shape.first_item + number * shape.clips
    return [distinct_clip_url(shape.speech, first + offset, shape.clip_s) for offset in range(shape.clips)]


def request_kinds(shape: LoadShape) -> list[str]:
    """Each request's kind in a production mix: every kind's share of the load, rounded so the counts add up
    (largest remainder), in an order drawn from the load's seed, so every run sends the same blend in the same
    order. Without a mix every request carries the load's pictures and clips ("image_audio")."""
    if not shape.mix:
        return ["image_audio"] * shape.num_prompts
    exact = {kind: share * shape.num_prompts for kind, share in shape.mix}
    counts = {kind: int(value) for kind, value in exact.items()}
    for kind in sorted(exact, key=lambda k: exact[k] - counts[k], reverse=True)[:shape.num_prompts - sum(counts.values())]:
        counts[kind] += 1
    kinds = [kind for kind, count in counts.items() for _ in range(count)]
    random.Random(shape.seed).shuffle(kinds)
    return kinds


def request_message(shape: LoadShape, number: int, text: str, kind: str = "image_audio") -> list[dict[str, Any]]:
    """Its pictures and its clips, as far as its kind carries them, then the text: how Phi-4-multimodal's prompts
    put media first."""
    pictures, clips = REQUEST_KINDS[kind]
    parts = [*map(image_part, request_images(shape, number) if pictures else []),
             *map(audio_url_part, request_clips(shape, number) if clips else [])]
    return [{"role": "user", "content": [*parts, {"type": "text", "text": text}]}]


def random_prompt(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def arrival_offsets(shape: LoadShape, rng: random.Random) -> list[float]:
    """Send times in seconds from the start: Poisson arrivals (exponential gaps) at request_rate."""
    if shape.request_rate == float("inf"):
        return [0.0] * shape.num_prompts
    offsets, now = [], 0.0
    for _ in range(shape.num_prompts):
        offsets.append(now)
        now += rng.expovariate(shape.request_rate)
    return offsets


async def _one_request(pool: ConnectionPool, request: bytes, start: float, record: RequestRecord,
                       output_len: int) -> None:
    """Time the exchange; the chunks carry their arrival times, so all parsing happens afterwards."""
    try:
        connection = await pool.take()
    except OSError as exc:
        record.error = f"cannot connect: {type(exc).__name__}: {exc}"
        return
    healthy = False
    sent = time.perf_counter()
    record.sent_s = sent - start
    try:
        response = await connection.exchange(request)
        record.latency_s = response.chunks[-1][0] - sent if response.chunks else time.perf_counter() - sent
        healthy = True
    except HttpStatusError as exc:
        record.error, record.status, healthy = str(exc), exc.status, True
        return
    except (OSError, ValueError, IndexError) as exc:
        record.error = f"{type(exc).__name__}: {exc}"
        return
    finally:
        pool.give_back(connection, healthy)
    timed, buffer = [], b""
    for arrived, raw in response.chunks:
        buffer += raw
        *events, buffer = buffer.split(b"\n\n")
        timed += [(arrived, event) for event in events]
    read_stream(timed, sent, start, record, output_len)


def token_chunk(chunk: dict[str, Any]) -> bool:
    """A chunk that carries a generated token, as `vllm bench serve` 0.33 counts them
    (benchmarks/lib/endpoint_request_func.py `_choice_has_streamed_output`): text, reasoning or a tool call,
    or an empty `content` without `role` (a token that decodes to nothing, which real vLLM streams as
    `"content": ""`; the opening chunk carries `role`)."""
    choices = chunk.get("choices")
    delta = choices[0].get("delta") if isinstance(choices, list) and choices and isinstance(choices[0], dict) \
        else None
    if not isinstance(delta, dict):
        return False
    if any(delta.get(key) for key in ("content", "reasoning", "tool_calls", "function_call")):
        return True
    return delta.get("content") == "" and "role" not in delta


def read_stream(timed: list[tuple[float, bytes]], sent: float, start: float, record: RequestRecord,
                 output_len: int) -> None:
    """Token times from the token chunks; success by what vLLM promises, not by the text (tokens may decode
    to nothing): with `ignore_eos` the usage chunk must say exactly the requested number of tokens (vLLM
    generates to the cap); a short or padded answer would skew throughput and TPOT, so it counts as failed."""
    usage, last = None, None
    for arrived, event in timed:
        data = event.removeprefix(b"data: ")
        if data == b"[DONE]" or not data or data.startswith(b":"):
            continue
        try:
            chunk = json.loads(data)
            usage = chunk.get("usage") or usage
            if not token_chunk(chunk):
                continue
        except (ValueError, AttributeError, LookupError, TypeError):
            record.error = f"malformed stream event {data[:80]!r}"
            return
        if last is None:
            record.ttft_s = arrived - sent
        else:
            record.itls_s.append(arrived - last)
        record.chunk_times_s.append(arrived - start)
        last = arrived
    if not isinstance(usage, dict) or not all(isinstance(usage.get(k), int) for k in USAGE_COUNTS):
        record.error = f"the stream's usage chunk (stream_options.include_usage) is missing or malformed: {usage!r}"
        return
    record.prompt_tokens, record.output_tokens = (usage[k] for k in USAGE_COUNTS)
    if record.output_tokens != output_len:
        record.error = (f"asked for {output_len} tokens with ignore_eos, the usage says {record.output_tokens} "
                        f"were generated")
        return
    if last is None:
        record.error = f"the usage says {record.output_tokens} tokens, the stream carried no token chunk"
        return
    record.success = True


async def _run(base_url: str, model: str, shape: LoadShape, kinds: list[str], timeout_s: float, api_key: str | None,
               progress: Callable[[int], None] | None) -> tuple[list[RequestRecord], float, float]:
    rng = random.Random(shape.seed)
    offsets = arrival_offsets(shape, rng)
    slots = shape.max_concurrency or shape.num_prompts
    pool = ConnectionPool(base_url, {"Authorization": f"Bearer {api_key}"} if api_key else {}, slots)
    requests = [pool.request_bytes("/v1/chat/completions", json.dumps(chat_payload(
        model, request_message(shape, i, random_prompt(rng, shape.input_len), kinds[i]), stream=True,
        stream_options={"include_usage": True}, max_completion_tokens=shape.output_len, ignore_eos=True,
    )).encode(), {"x-request-id": f"{shape.request_id_prefix}{i}"} if shape.request_id_prefix else None)
        for i in range(len(offsets))]
    await pool.open()
    records = [RequestRecord(sent_s=0.0) for _ in offsets]
    done = [0]  # requests answered so far, for `progress`
    start, started_at = time.perf_counter(), time.time()

    async def scheduled(offset: float, request: bytes, record: RequestRecord) -> None:
        record.scheduled_s = offset
        delay = start + offset - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await _one_request(pool, request, start, record, shape.output_len)
        if progress:
            done[0] += 1
            progress(done[0])

    try:
        await asyncio.wait_for(asyncio.gather(*(scheduled(o, r, rec) for o, r, rec in
                                                zip(offsets, requests, records))), timeout_s)
    finally:
        pool.close()
    return records, time.perf_counter() - start, started_at


def run_load(endpoint: Endpoint, shape: LoadShape, timeout_s: float = 300,
             progress: Callable[[int], None] | None = None) -> tuple[dict[str, Any], list[RequestRecord]]:
    """Run the load; return vllm-bench-style metrics and the per-request records. `progress(answered)` after
    each request (the chunks are dated as they arrive, so this costs the figures nothing)."""
    kinds = request_kinds(shape)
    records, duration, started_at = asyncio.run(_run(endpoint.base_url, endpoint.model, shape, kinds, timeout_s,
                                                              endpoint.api_key, progress))
    metrics = summarise(records, duration)
    rate = "inf" if shape.request_rate == float("inf") else shape.request_rate
    metrics |= {"started_at_unix": started_at, "num_prompts": shape.num_prompts, "request_rate": rate,
                "max_concurrency": shape.max_concurrency, "images_per_request": shape.images,
                "image_px": shape.image_px if shape.images else None, "clips_per_request": shape.clips,
                "clip_s": shape.clip_s if shape.clips else None,
                "request_kinds": dict(Counter(kinds)) if shape.mix else None,
                "backend": "phi4mm-loadgen"}
    return metrics, records
