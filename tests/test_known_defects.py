"""Defects vLLM has really shipped in multimodal serving, drawn from its issue tracker (each test cites its
threads). They pass plain protocol checks: the server answers 200, the JSON is well formed, the answer is
fluent, and it is about the wrong image, or the engine behind healthy probes is stuck, or the stream lies.
None needs the right answer, so each holds on a random-weight model too (the real-vLLM self-test stage).
"""
from __future__ import annotations

import base64
import statistics
import uuid
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, nullcontext
from typing import Any

import pytest

from fixtures.selection import not_applicable
from phi4mm_acceptance.accuracy.canary import CANARY_MAX_TOKENS, CanaryAnswer, image_canary, share_right
from phi4mm_acceptance.accuracy.lora_hint import adapter_for
from phi4mm_acceptance.accuracy.scoring import corpus_wer
from phi4mm_acceptance.deployment.launch.base import Server
from phi4mm_acceptance.deployment.profile import Profile
from phi4mm_acceptance.deployment.server_memory import MetricsMemory, memory_reader
from phi4mm_acceptance.deployment.settings import RunSettings
from phi4mm_acceptance.deployment.telemetry import sampler_for
from phi4mm_acceptance.protocol.checks import (
    answer_text,
    chat_reply_problems,
    describe_error,
    greedy_answer,
    greedy_logprobs,
    leading_half_shared,
    logprob_change,
    mixup_problems,
    probe_statuses,
    stop_string_for,
    stream_and_plain,
    stream_reply_problems,
)
from phi4mm_acceptance.protocol.client import ChatClient, HttpReply, TokenStall
from phi4mm_acceptance.protocol.media import (
    ORDINALS,
    audio_message,
    audio_url_part,
    image_part,
    load_manifest,
    own_image_problem,
    user_message,
)
from phi4mm_acceptance.protocol.modalities import Served
from phi4mm_acceptance.protocol.odd_media import distinct_image_url, odd_media, padded_with_silence
from phi4mm_acceptance.protocol.vllm_api import parse_error_body
from phi4mm_acceptance.report.progress import Progress
from phi4mm_acceptance.report.release import memory_plot
from phi4mm_acceptance.verdicts import WrongAnswer

MANIFEST = load_manifest()
RecordProperty = Callable[[str, object], None]
IMAGE_A = "red-circle"  # a shipped 448x448 image; B is another 448x448 image, so both cost the same tokens
STREAM_PROMPTS = {prompt["name"]: prompt["question"] for prompt in MANIFEST.stream_prompts}


def served(served_modalities: dict[str, Served]) -> set[str]:
    """The modalities the profile lets through and the server takes (fixtures/client.py asks it)."""
    return {modality for modality, probe in served_modalities.items() if probe.served is not False}


@pytest.mark.smoke
@pytest.mark.image
@pytest.mark.parametrize("cache", ["prefix-cache-shared", "cache-salt-each"])
def test_each_image_gets_its_own_answer(client: ChatClient, profile: Profile, cache: str,
                                        record_property: RecordProperty) -> None:
    """Image A, then B, then A again, the same question at temperature 0. Prefix and multimodal cache
    collisions answered one image's question with another's answer, or with its leading blocks (vllm#12603,
    #36708; LMCache#4086). A and B are the same size, so the same number of tokens: a cache keyed without the
    image could hand B all of A's answer or its start. B's answer must not begin as A's for half of it, and
    A's two answers agree on their leading half (vLLM promises no bit-identical output across batches).
    With a cache_salt each the prefix cache is not shared, so only a processor cache keyed without the image
    can collide; a model that answers every prompt alike cannot be judged here, and is named as such."""
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
        alike = answers_every_prompt_alike(client, profile.chat.max_completion_tokens)
        if alike:
            raise WrongAnswer(f"{'; '.join(problems)}; but the model {alike}, so a cache collision cannot be told "
                              "from a model that does not see its input")
        raise WrongAnswer("; ".join(problems), "a cache handing one image's answer to another (vllm#12603, #36708)")


def answers_every_prompt_alike(client: ChatClient, max_tokens: int) -> str | None:
    """Whether two different text prompts, each computed afresh, get answers sharing their leading half: a
    model that answers everything alike (dummy or random weights with flat logits)."""
    prompts = [MANIFEST.text_prompts[0]["question"], MANIFEST.arithmetic[0]["question"]]
    texts = [greedy_answer(client, [{"role": "user", "content": prompt}], max_tokens, cache_salt=uuid.uuid4().hex)
             for prompt in prompts]
    if leading_half_shared(*texts):
        return f"also answers two different text prompts alike ({texts[0][:60]!r}, {texts[1][:60]!r})"
    return None


def warm_up_messages(modalities: set[str]) -> list[dict[str, Any]]:
    """A multimodal request of a modality the profile serves (image first), to warm the engine up."""
    if "image" in modalities:
        return user_message(MANIFEST.describe_question, MANIFEST.image(IMAGE_A).data_url())
    clip = MANIFEST.transcription_clips[0]
    return [{"role": "user", "content": [audio_url_part(clip.data_url()),
                                         {"type": "text", "text": clip.question}]}]


@pytest.mark.smoke
def test_engine_answers_within_the_token_deadline_after_multimodal_warmup(
        client: ChatClient, profile: Profile, served_modalities: dict[str, Served],
        record_property: RecordProperty) -> None:
    """The engine died or hung while /health, /version and /v1/models kept answering 200 (vllm#39863, #17972):
    probes cannot tell. After a multimodal warm-up a tiny streamed completion must finish, and no token may
    take longer than the profile's max_token_gap_s: a stalled stream fails in seconds, never a 600 s hang."""
    gap = profile.chat.max_token_gap_s
    try:
        for messages, cap in ((warm_up_messages(served(served_modalities)), 8),
                              ([{"role": "user", "content": "Say OK."}], 2)):
            reply = client.stream_chat(messages, max_completion_tokens=cap, token_gap_s=gap)
            problems = stream_reply_problems(reply, cap)
            assert not problems, "; ".join(problems)
    except TokenStall as stall:
        raise AssertionError(f"{stall}; meanwhile {probe_statuses(client)}: the probes say healthy while chat "
                             "is stuck") from None
    record_property("max_token_gap_ms", round(max(reply.gaps_ms(), default=0.0), 1))


@pytest.mark.smoke
@pytest.mark.parametrize(("prompt", "stop"), [(name, stop) for name in STREAM_PROMPTS for stop in (False, True)],
                         ids=[f"{name}{'-stop' * stop}" for name in STREAM_PROMPTS for stop in (False, True)])
def test_stream_tells_the_same_text_as_plain(client: ChatClient, profile: Profile, prompt: str, stop: bool) -> None:
    """Streams that lied: with `stop` strings the streamed text lost its end or leaked a prefix of the stop
    string (vllm#8468); multi-byte characters came split into U+FFFD or doubled (vllm#8627,
    vllm-ascend#12030); a stream held only `data: [DONE]` (vllm#40986). Plain and streamed answers, each
    computed afresh (cache_salt), must be the same text; with a stop string taken from the unstopped answer,
    both end right before its first occurrence, with finish_reason "stop"."""
    messages = [{"role": "user", "content": STREAM_PROMPTS[prompt]}]
    cap = profile.chat.max_completion_tokens
    params: dict[str, Any] = {}
    if stop:
        unstopped = greedy_answer(client, messages, cap, cache_salt=uuid.uuid4().hex)
        chosen = stop_string_for(unstopped)
        if chosen is None:  # the model's answer, not the deployment's offer: at release sign-off a gate not run
            pytest.skip(f"the answer is too short to hold a 3-character stop string: {unstopped!r}")
        params["stop"] = [chosen]
    compared = stream_and_plain(client, messages, cap, **params)
    assert not compared.problems, "; ".join(compared.problems)
    text = answer_text(compared.plain)
    if "\ufffd" in text:
        raise AssertionError(f"the plain answer holds U+FFFD (a split multi-byte character): {text[:200]!r}")
    if stop:
        expected = unstopped[:unstopped.index(chosen)]
        finishes = {"plain": compared.plain.json["choices"][0]["finish_reason"],
                    "streamed": compared.streamed.finish_reason if compared.streamed else None}
        assert text == expected and set(finishes.values()) == {"stop"}, (
            f"with stop {chosen!r} the answer should end right before its first occurrence ({expected[-60:]!r}, "
            f"finish_reason 'stop' plain and streamed); got {text[-60:]!r}, finish_reason {finishes}")


@pytest.mark.smoke
def test_odd_media_fail_alone_and_the_server_keeps_serving(client: ChatClient, profile: Profile,
                                                          served_modalities: dict[str, Served],
                                                          record_property: RecordProperty) -> None:
    """One bad item took the whole server down (vllm#55546, #15404). A burst of odd but valid media (a 1x1
    and a 2400x1600 image, audio at 8 to 48 kHz, stereo, 0.5 to 8 s), sent together with plain text requests:
    each odd one is answered well-formed, or refused on its own with a 4xx and vLLM's error body (a 5xx is a
    server failing valid media: a missing resampler or image codec, a crash in a processor); every text request
    succeeds, and afterwards the server still answers text and /health."""
    items = odd_media(served(served_modalities))
    if not items:
        not_applicable(f"profile {profile.name!r} serves neither images nor audio")
    text = [{"role": "user", "content": "Name three colours."}]

    def odd(item: Any) -> tuple[str, int, list[str]]:
        messages = [{"role": "user", "content": [item.part, {"type": "text", "text": "What is this?"}]}]
        with closing(client.naming(client.model)) as own:  # a thread of its own, connections of its own
            reply = own.chat(messages, max_completion_tokens=16)
        return item.name, reply.status, (chat_reply_problems(reply, 16) if reply.status == 200
                                         else refusal_problems(reply))

    def normal(_: int) -> list[str]:
        with closing(client.naming(client.model)) as own:
            return chat_reply_problems(own.chat(text, max_completion_tokens=16), 16)

    with ThreadPoolExecutor(max_workers=len(items) + 4) as pool:
        odd_futures, normal_futures = pool.map(odd, items), pool.map(normal, range(4))  # all in flight at once
        odd_results, normal_results = list(odd_futures), list(normal_futures)
    refused = {name: status for name, status, _ in odd_results if status != 200}
    record_property("odd_media_refused", ", ".join(f"{n} {s}" for n, s in refused.items()) or "none")
    problems = [f"{name}: {'; '.join(p)}" for name, _, p in odd_results if p]
    problems += [f"a text request sent with them: {'; '.join(p)}" for p in normal_results if p]
    after = chat_reply_problems(client.chat(text, max_completion_tokens=16), 16)
    problems += [f"text after the burst: {'; '.join(after)}"] * bool(after)
    health = client.get("/health").status
    problems += [f"/health answers {health} after the burst"] * (health != 200)
    assert not problems, "; ".join(problems) + (f" (odd media refused: {refused})" if refused else "")


def refusal_problems(reply: HttpReply) -> list[str]:
    """A refusal of valid media: a 4xx whose body is vLLM's error object with `code` the status (0.10.1+)."""
    if reply.status >= 500:
        return [f"valid media answered with a server error: {describe_error(reply.status, reply.text)}"]
    error = parse_error_body(reply.json)
    if error is None or error.code != reply.status:
        return [f"HTTP {reply.status} without vLLM's error body ({{\"error\": {{message, type, param, code}}}}, code "
                f"the status): {reply.text[:200]!r}"]
    return []


@pytest.mark.release
@pytest.mark.image
def test_interleaved_images_are_answered_in_order(client: ChatClient, profile: Profile) -> None:
    """Images answered out of order (vllm#12740, #15125): text and images interleaved, "Picture N follows."
    before each, and a question about one picture by its place: the answer must name that picture's content,
    and not every other picture's too (an answer about all of them tells no order)."""
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


ROPE_SWITCH = 4096  # Phi-4-multimodal's original_max_position_embeddings: LongRoPE changes factors past it
PAST_SWITCH = 256  # tokens past the switch that vLLM's min_tokens must make the model generate before it may stop


@pytest.mark.release
def test_long_output_stays_right_past_the_4k_rope_switch(client: ChatClient, profile: Profile,
                                                         record_property: RecordProperty) -> None:
    """Output past 4,096 tokens turned to gibberish (vllm#19489, Phi-4's LongRoPE switching from its short to
    its long scaling factors): a short prompt asks to count, one number per line, far enough that the
    sequence passes 4,096 tokens by the server's own count, streamed under the profile's token deadline (a
    long answer is judged by its pace, not by one read timeout), with vLLM's `min_tokens` so the model may not
    stop before the switch. A stream that ends or is cut before it breaks that promise: serving broken. Every
    line must be the next number to the end."""
    context = profile.model.max_model_len
    if context < ROPE_SWITCH + 1024:
        not_applicable(f"max_model_len {context} cannot hold output past the {ROPE_SWITCH}-token RoPE switch: this "
                       "deployment cannot be checked for vllm#19489 (the -lora profiles serve 8192)")
    per_number = (client.text_tokens("\n".join(map(str, range(1, 1001)))) or 2000) / 1000
    count_to = int((ROPE_SWITCH + 800) / per_number)
    messages = [{"role": "user", "content": f"Count from 1 to {count_to}, one number per line, with nothing else."}]
    prompt = client.prompt_tokens(messages) or 64
    cap, at_least = context - prompt - 16, ROPE_SWITCH + PAST_SWITCH - prompt
    reply = client.stream_chat(messages, max_completion_tokens=cap, min_tokens=at_least, temperature=0)
    problems = stream_reply_problems(reply, cap)
    generated = (reply.usage or {}).get("completion_tokens", 0) if not problems else 0
    if not problems and generated < at_least:
        problems.append(f"the answer ended ({reply.finish_reason}) after {generated} tokens, though min_tokens "
                        f"asked for {at_least}")
    assert not problems, (f"counting past the {ROPE_SWITCH}-token RoPE switch (prompt {prompt} tokens, min_tokens "
                          f"{at_least}): " + "; ".join(problems))
    lines, usage = reply.content.strip().split("\n"), reply.usage
    record_property("total_tokens", usage["total_tokens"])
    record_property("max_token_gap_ms", round(max(reply.gaps_ms(), default=0.0), 1))
    partial_last = reply.finish_reason == "length"
    broken = next((i for i, line in enumerate(lines) if line.strip() != str(i + 1)
                   and not (partial_last and i == len(lines) - 1 and str(i + 1).startswith(line.strip()))), None)
    if broken is not None:
        position = usage["prompt_tokens"] + (client.text_tokens("\n".join(lines[:broken])) or 0)
        past = position > ROPE_SWITCH
        raise WrongAnswer(f"counting to {count_to}, line {broken + 1} is {lines[broken][:40]!r} (about token "
                          f"{position} of the sequence{', past the RoPE switch' * past}); the lines before it: "
                          f"{lines[max(0, broken - 3):broken]}", "LongRoPE scaling past 4096 (vllm#19489)" if past
                          else None)


def canary_answers(client: ChatClient, model: str) -> list[CanaryAnswer]:
    with closing(client.naming(model)) as named:
        return image_canary(named, MANIFEST)


LOGPROB_NOISE_FLOOR = 0.05  # nats: an adapter must move a log-probability further than this, and than 4x the noise
LOGPROB_TOKENS = 16


@pytest.mark.release
@pytest.mark.image
@pytest.mark.accuracy
def test_vision_lora_is_applied_when_named(client: ChatClient, profile: Profile,
                                           missing_prerequisite: Callable[[str], None],
                                           record_property: RecordProperty) -> None:
    """LoRA listed but not applied (vllm#16424). First what needs no right answer, so it holds on any weights:
    the same text prompt through the base model (twice, for the noise between identical requests) and
    through the vision adapter by name, each computed afresh; the adapter must change the log-probabilities
    vLLM reports by more than the noise. Then the image canary through the adapter by name must reach the
    profile's canary threshold."""
    adapter = adapter_for(client.get("/v1/models").json, client.model, "image")
    if adapter is None:
        not_applicable("the server lists no vision LoRA adapter (GET /v1/models)")
    messages = [{"role": "user", "content": MANIFEST.text_prompts[0]["question"]}]
    base, again = (greedy_logprobs(client, messages, LOGPROB_TOKENS) for _ in range(2))
    with closing(client.naming(adapter)) as named:
        through_adapter = greedy_logprobs(named, messages, LOGPROB_TOKENS)
    noise, change = logprob_change(base, again), logprob_change(base, through_adapter)
    record_property("logprob_noise", round(noise, 4))
    record_property("logprob_change_through_adapter", round(change, 4))
    if change <= max(LOGPROB_NOISE_FLOOR, 4 * noise):
        raise WrongAnswer(f"through the adapter {adapter!r} the log-probabilities of the same prompt move at most "
                          f"{change:.4f} nats from the base model's (two base runs differ by {noise:.4f}): listed in "
                          "/v1/models but not applied? (vllm#16424)", "a LoRA adapter listed but not applied "
                                                                        "(vllm#16424)")
    if profile.accuracy is None:
        missing_prerequisite(f"profile {profile.name!r} has no [accuracy] table")
    through = canary_answers(client, adapter)
    share, minimum = share_right(through), profile.accuracy.canary_min_image_accuracy
    record_property("adapter_canary_image_accuracy", round(share, 4))
    if share < minimum:
        raise WrongAnswer(f"through the adapter {adapter!r} the image canary gets {share:.0%} right, under the "
                          f"profile's {minimum:.0%}: wrong: "
                          f"{'; '.join(a.describe() for a in through if not a.correct)[:400]}")


PADDING_S = (0.0, 26.0)  # the clips as they are (2-4 s) and padded to 28-30 s


@pytest.mark.nightly
@pytest.mark.audio
def test_parallel_speech_of_mixed_lengths_gets_each_its_own_transcript(client: ChatClient, profile: Profile,
                                                                       record_property: RecordProperty) -> None:
    """Parallel audio of mixed lengths went wrong on other audio models (vllm#47459, #24052): the spoken clips,
    as they are and padded with silence to 28-30 s, all transcribed at once. Every request must succeed, and
    each transcript must be nearest its own clip's words (word error rate after Whisper's normaliser)."""
    clips = MANIFEST.transcription_clips
    jobs = [(clip, pad) for pad in PADDING_S for clip in clips]

    def transcribe(job: tuple[Any, float]) -> str:
        clip, pad = job
        url = "data:audio/wav;base64," + base64.b64encode(padded_with_silence(clip.path.read_bytes(), pad)).decode()
        with closing(client.naming(client.model)) as own:
            return greedy_answer(own, audio_message(clip.question, audio_url_part(url)), CANARY_MAX_TOKENS)

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        transcripts = list(pool.map(transcribe, jobs))
    wrong = [problem for (clip, pad), text in zip(jobs, transcripts)
             if (problem := transcript_problem(clip, f"{clip.name} (+{pad:g} s silence)", text, clips))]
    record_property("parallel_speech_requests", len(jobs))
    if wrong:
        found = f"{len(wrong)} of {len(jobs)} concurrent speech requests got another clip's transcript or none: " \
                f"{'; '.join(wrong)}"
        alike = answers_every_prompt_alike(client, profile.chat.max_completion_tokens)
        if alike:
            raise WrongAnswer(f"{found}; but the model {alike}, so crosstalk cannot be told from a model that does "
                              "not hear its input")
        raise WrongAnswer(found, "audio of one request crossing into another's (vllm#47459)")


def transcript_problem(clip: Any, what: str, text: str, clips: list[Any]) -> str | None:
    """A transcript is its clip's when it is strictly nearer that clip's words than any other clip's: an empty
    (or equally distant) transcript is nobody's."""
    distance = {other.name: corpus_wer([(other.transcript, text)]) for other in clips}
    nearest = min(distance.values())
    if not text.strip():
        return f"{what} got an empty transcript"
    if distance[clip.name] > nearest or list(distance.values()).count(nearest) > 1:
        closest = [name for name, value in distance.items() if value == nearest]
        return f"{what} got {text[:100]!r}, nearest {' and '.join(closest)}'s words"
    return None


@pytest.mark.nightly
@pytest.mark.image
def test_memory_stays_bounded_over_distinct_images(client: ChatClient, profile: Profile, settings: RunSettings,
                                                   server: Server, missing_prerequisite: Callable[..., None],
                                                   record_property: RecordProperty,
                                                   progress: Callable[[str, int, str], Progress]) -> None:
    """Memory that grew with every new image (vllm#15294). vLLM keeps each processed image in its multimodal
    cache by design until the cache is full (--mm-processor-cache-gb), so a warm-up of distinct images fills it
    first; then over the profile's [soak] count of further distinct images the resident memory of every process
    of the server (API server, engine core, workers: wherever the target sees them) may grow by at most
    max_rss_growth_mb, judged on the fitted line through the readings, so neither one spike nor the noise of
    one reading decides. The plot goes in the report (plots/memory-soak.png); on an Atlas (CUDA) host npu-smi's
    (nvidia-smi's) peak HBM per device is recorded with it."""
    soak = profile.soak
    if soak is None:
        missing_prerequisite(f"profile {profile.name!r} has no [soak] table (images, max_rss_growth_mb, item_mb)")
    reader = memory_reader(server, client)
    if isinstance(reader, MetricsMemory):
        missing_prerequisite(f"the soak can read only {reader.what}: a leak in the engine core would not show; run it "
                             "with the process or docker target", warnings.warn)
    warmup = soak.warmup_images(profile.mm_cache_gb)
    readings: list[dict[str, float]] = []
    sampler = sampler_for(settings)  # npu-smi (nvidia-smi) on the host: HBM through the soak
    steps = progress("memory soak", warmup + soak.images, f"pictures ({warmup} warm-up)")
    with sampler or nullcontext():
        for number in range(warmup + soak.images):
            url = distinct_image_url(number, soak.image_px)
            greedy_answer(client, user_message(MANIFEST.describe_question, url), 8)
            readings.append(reader.read())
            steps.update(number + 1, f"{sum(readings[-1].values()):.0f} MB resident")
    for key, value in (sampler.figures() if sampler else {}).items():
        record_property(key, value)
    totals = [sum(reading.values()) for reading in readings]
    measured = totals[warmup - 1:]
    growth = soak_growth(measured)
    start, end = readings[warmup - 1], readings[-1]
    by_process = {name: round(end.get(name, 0.0) - mb, 1) for name, mb in start.items()}
    plot = memory_plot(totals, warmup, soak.max_rss_growth_mb, settings.reports_dir / "plots")
    for key, value in (("soak_warmup_images", warmup), ("rss_after_warmup_mb", round(measured[0], 1)),
                       ("rss_end_mb", round(measured[-1], 1)), ("rss_growth_mb", round(growth, 1)),
                       ("soak_measures", reader.what)):
        record_property(key, value)
    assert growth <= soak.max_rss_growth_mb, (
        f"the server's resident memory grew {growth:.0f} MB over {soak.images} distinct images after a warm-up of "
        f"{warmup} filled its {profile.mm_cache_gb:g} GiB multimodal cache ({measured[0]:.0f} -> {measured[-1]:.0f} "
        f"MB, {1024 * growth / soak.images:.0f} KB an image; by process: {by_process}), over the profile's "
        f"{soak.max_rss_growth_mb:g} MB ({soak.origin}): memory kept for every image (vllm#15294)? plot: {plot}")


def soak_growth(totals: list[float]) -> float:
    """Growth over the soak by the least-squares line through every reading (its slope times the images)."""
    return statistics.linear_regression(range(len(totals)), totals).slope * (len(totals) - 1) if len(totals) > 1 else 0.0
