"""The simulator behaves like vLLM where the suite relies on it: media, limits, messages, timing, faults."""
from __future__ import annotations

import base64
import socket
import struct
import threading
import time
from dataclasses import replace

import pytest

from phi4mm_acceptance.protocol.media import load_manifest
from simulator.chat import ApiError, ServingLimits, plan_chat
from simulator.claimed import ClaimedVersion
from simulator.faults import Faults, markdown_table
from simulator.media import MediaCaps, MediaError, decode_audio, decode_image, load_url_bytes
from simulator.model import FakeModel, split_into_tokens
from simulator.server import SimState, bind
from simulator.timing import TimingModel

MANIFEST = load_manifest()
MODEL = FakeModel.load("microsoft/Phi-4-multimodal-instruct")
ADAPTERS = {"image": "/snap/vision-lora", "audio": "/snap/speech-lora"}
LIMITS = ServingLimits(("phi4mm",), 8192, {"image": 2, "audio": 1}, loras=ADAPTERS)  # as --default-mm-loras
NO_LORA = replace(LIMITS, loras={})


def wav(seconds: float, rate: int = 16000) -> bytes:
    data = b"\0\0" * int(seconds * rate)
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", len(data)) + data)


def chat(content: list[dict] | str, faults: Faults = Faults(), limits: ServingLimits = LIMITS, model: str = "phi4mm",
         **params):
    return plan_chat({"model": model, "messages": [{"role": "user", "content": content}], **params},
                     limits, MODEL, faults)


def answer(content: list[dict] | str, **kwargs) -> str:
    return "".join(chat(content, **kwargs).pieces)


def canary_answers(**kwargs) -> list[bool]:
    """Whether each canary image question gets its right answer."""
    return [answer([image(item.name), {"type": "text", "text": ask.question}], **kwargs) != MODEL.generic_media_answer
            for item in MANIFEST.images for ask in item.canary]


def clip(name: str, part: str = "audio_url") -> dict:
    data = next(c for c in MANIFEST.audio if c.name == name).base64()
    if part == "input_audio":
        return {"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}
    return {"type": "audio_url", "audio_url": {"url": f"data:audio/wav;base64,{data}"}}


def image(name: str) -> dict:
    return {"type": "image_url", "image_url": {"url": MANIFEST.image(name).data_url()}}


def test_known_image_gets_its_answer_and_counts_tokens() -> None:
    item = MANIFEST.image("red-circle")
    plan = chat([image("red-circle"), {"type": "text", "text": item.question}])
    assert "".join(plan.pieces) == "Red." and plan.finish_reason == "stop"
    assert plan.prompt_tokens > chat(item.question).prompt_tokens + 100


def test_known_questions_are_found_inside_benchmark_prompts() -> None:
    arithmetic = MANIFEST.arithmetic[0]["question"]
    wrapped = f"Answer the following question. Let's think step by step.\n\nQuestion: {arithmetic}"
    assert answer(wrapped).endswith("answer: 7")
    item = MANIFEST.image("bar-chart")
    assert answer([image("bar-chart"), {"type": "text", "text": item.canary[1].question + " Use one word."}]) == "5"


def test_quality_follows_the_lora_adapters_applied() -> None:
    assert all(canary_answers())
    without = canary_answers(limits=NO_LORA)
    assert 0.3 <= without.count(False) / len(without) <= 0.7  # NO_VISION_LORA_WRONG_PCT of them, by hash
    named = replace(NO_LORA, loras={"vision": "/snap/vision-lora"})
    assert all(canary_answers(limits=named, model="vision"))  # a request naming the adapter gets it
    transcript = next(c for c in MANIFEST.audio if c.name == "asr-fox").transcript
    assert answer([clip("asr-fox"), {"type": "text", "text": "Transcribe the audio clip into text."}]) == transcript
    no_speech = answer([clip("asr-fox"), {"type": "text", "text": "Transcribe the audio clip into text."}],
                       limits=NO_LORA)
    assert no_speech == MODEL.no_speech_lora_answer
    # as vLLM picks the default adapter by the part's type up to "_": input_audio ("input") gets no speech LoRA
    as_input_audio = answer([clip("asr-fox", "input_audio"), {"type": "text", "text": "Transcribe the audio clip."}])
    assert as_input_audio == MODEL.no_speech_lora_answer


@pytest.mark.parametrize(("content", "model", "reply_model"), [
    ([image("red-circle"), {"type": "text", "text": "?"}], "phi4mm", "image"),
    ([clip("asr-fox"), {"type": "text", "text": "?"}], "phi4mm", "audio"),
    ([clip("asr-fox", "input_audio"), {"type": "text", "text": "?"}], "phi4mm", "phi4mm"),
    ([image("red-circle"), clip("asr-fox"), {"type": "text", "text": "?"}], "phi4mm", "phi4mm"),  # two match: none
    ("What is the capital of France?", "phi4mm", "phi4mm"),
    ([image("red-circle"), {"type": "text", "text": "?"}], "audio", "audio"),  # a named LoRA wins
])
def test_replies_name_the_lora_applied_as_vllm_does(content, model, reply_model) -> None:
    assert chat(content, model=model).model == reply_model


def test_wrong_answers_fault_spoils_a_fixed_share() -> None:
    spoiled = canary_answers(faults=Faults(wrong_answers_pct=50))
    assert spoiled == canary_answers(faults=Faults(wrong_answers_pct=50))  # repeatable run to run
    assert 0.25 <= spoiled.count(False) / len(spoiled) <= 0.75
    assert answer(MANIFEST.text_prompts[0]["question"], faults=Faults(wrong_answers_pct=100)) == MODEL.generic_text_answer


def test_cap_gives_length_and_ignore_fault_does_not() -> None:
    content = [image("bar-chart"), {"type": "text", "text": "What is in this image?"}]
    assert (chat(content, max_completion_tokens=3).finish_reason, len(chat(content, max_completion_tokens=3).pieces)) \
        == ("length", 3)
    assert chat(content, Faults(ignore_max_tokens=True), max_completion_tokens=3).finish_reason == "stop"


@pytest.mark.parametrize(("content", "params", "status", "message"), [
    ([image("red-circle")] * 3, {}, 400, "At most 2 image(s) may be provided in one prompt."),
    ("hello " * 10000, {}, 400, "This model's maximum context length is 8192 tokens."),
    ("hi", {"max_completion_tokens": -1}, 400, "max_completion_tokens must be at least 1"),
    ([{"type": "video"}], {}, 400, "validation error"),
    ([{"type": "image_url", "image_url": {"url": "data:image/png;base64,%%%"}}], {}, 400, "Invalid base64"),
    ("hi", {"model": "other"}, 404, "The model `other` does not exist."),
    ("hi", {"stream_options": {"include_usage": True}}, 400, "only be defined when `stream=True`"),
])
def test_invalid_requests_get_vllm_errors(content, params, status, message) -> None:
    with pytest.raises(ApiError) as error:
        chat(content, **params)
    assert error.value.status == status and message in error.value.message
    assert set(error.value.body(ClaimedVersion())["error"]) == {"message", "type", "param", "code"}


def test_claimed_vllm_0_11_serves_what_it_serves() -> None:
    """The simulator claims vLLM 0.11: custom roles render, max_completion_tokens 0 means unset."""
    assert plan_chat({"model": "phi4mm", "messages": [{"role": "robot", "content": "hi"}]}, LIMITS, MODEL,
                     Faults()).pieces
    unset = chat("What is the capital of France?", max_completion_tokens=0)
    assert unset.finish_reason == "stop" and unset.pieces


@pytest.mark.parametrize(("url", "version", "status", "kind"), [
    ("http://127.0.0.1:9/nothing-listens.png", "0.11.0", 500, "Internal Server Error"),
    ("http://127.0.0.1:9/nothing-listens.png", "0.32.0", 500, "InternalServerError"),
    ("404", "0.11.0", 500, "Internal Server Error"),
    ("404", "0.24.0", 500, "InternalServerError"),
    ("404", "0.25.0", 422, "UnprocessableEntityError"),
])
def test_image_fetch_failures_answer_as_the_claimed_vllm(url, version, status, kind) -> None:
    import http.server
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    if url == "404":
        url = f"http://127.0.0.1:{server.server_address[1]}/no-such-image-here.png"
    claimed = ClaimedVersion.from_env({"SIM_VLLM_VERSION": version})
    try:
        with pytest.raises(ApiError) as error:
            chat([{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": "?"}],
                 limits=replace(LIMITS, claimed=claimed))
    finally:
        server.shutdown()
    assert error.value.status == status and error.value.type(claimed) == kind


@pytest.mark.parametrize(("version", "zero", "clamped"), [("0.11.0", 200, 400), ("0.16.0", 400, 400),
                                                          ("0.32.0", 400, 200)])
def test_caps_answer_as_the_claimed_vllm(version, zero, clamped) -> None:
    limits = replace(LIMITS, claimed=ClaimedVersion.from_env({"SIM_VLLM_VERSION": version}))
    for cap, expected in ((0, zero), (limits.max_model_len, clamped)):
        try:
            plan = chat("What is the capital of France?", limits=limits, max_completion_tokens=cap)
        except ApiError as error:
            assert error.status == expected == 400, (cap, version)
        else:
            assert expected == 200 and plan.prompt_tokens + plan.completion_tokens <= limits.max_model_len


@pytest.mark.parametrize(("version", "caps", "status", "param"), [
    ("0.28.0", MediaCaps(audio_mb=0), 200, None), ("0.29.0", MediaCaps(audio_mb=0), 400, "audio_filesize_mb"),
    ("0.23.0", MediaCaps(audio_s=1), 200, None), ("0.24.0", MediaCaps(audio_s=1), 400, "messages[0].content[0]"),
])
def test_audio_limits_answer_as_the_claimed_vllm(version, caps, status, param) -> None:
    """A 1.5 s clip past a 0 MB size cap or a 1 s duration cap: refused from the release that has the limit."""
    limits = replace(LIMITS, claimed=ClaimedVersion.from_env({"SIM_VLLM_VERSION": version}), media_caps=caps)
    part = {"type": "input_audio", "input_audio": {"data": base64.b64encode(wav(1.5)).decode(), "format": "wav"}}
    try:
        chat([part, {"type": "text", "text": "Transcribe the audio clip."}], limits=limits)
    except ApiError as error:
        assert (error.status, error.param) == (status, param)
    else:
        assert status == 200


def test_a_bad_claimed_version_is_refused() -> None:
    with pytest.raises(ValueError, match="SIM_VLLM_VERSION"):
        ClaimedVersion.from_env({"SIM_VLLM_VERSION": "latest"})


def test_audio_counts_one_token_per_80_ms() -> None:
    assert decode_audio(wav(0.8)).token_count() == 10
    part = {"type": "input_audio", "input_audio": {"data": base64.b64encode(wav(1.6)).decode(), "format": "wav"}}
    assert chat([part, {"type": "text", "text": "Transcribe."}]).prompt_tokens > 20
    with pytest.raises(MediaError, match="WAV"):
        decode_audio(b"not a wav file at all")


def test_non_images_and_odd_urls_are_refused() -> None:
    with pytest.raises(MediaError, match="cannot identify image file"):
        decode_image(b"GIF00a not really")
    with pytest.raises(MediaError, match="Unsupported media URL scheme"):
        load_url_bytes("ftp://example.org/x.png", 1)
    with pytest.raises(MediaError, match="--allowed-local-media-path"):
        load_url_bytes("file:///etc/passwd", 1)
    with pytest.raises(MediaError, match="Only base64 data URLs"):
        load_url_bytes("data:image/png;charset=utf-8,abc", 1)
    with pytest.raises(MediaError, match="Failed to fetch"):
        load_url_bytes("http://127.0.0.1:9/x.png", 1)


def test_tokens_rejoin_to_the_text() -> None:
    text = "The image shows three blue squares, in a row."
    assert "".join(split_into_tokens(text)) == text


def test_timing_model_grows_with_prompt_and_concurrency() -> None:
    timing = TimingModel(ttft_base_ms=20, ttft_per_prompt_token_ms=0.01, tpot_ms=2, concurrency_slowdown=0.1)
    assert timing.ttft_s(1000, 1) == pytest.approx(0.030)
    assert timing.ttft_s(1000, 3) == pytest.approx(0.036)
    assert timing.tpot_s(1) == pytest.approx(0.002)
    assert TimingModel.from_env({"SIM_TPOT_MS": "7"}).tpot_ms == 7


def test_encoders_run_for_media_the_processor_cache_lacks_and_a_slow_path_multiplies_them() -> None:
    from simulator.mm_cache import ProcessorCache

    limits = replace(LIMITS, mm_cache=ProcessorCache(0.1))
    first = chat([image("red-circle"), clip(MANIFEST.transcription_clips[0].name), {"type": "text", "text": "?"}],
                 limits=limits)
    again = chat([image("red-circle"), {"type": "text", "text": "?"}], limits=limits)
    seconds = first.encoded_audio_s
    assert (first.encoded_images, again.encoded_images, again.encoded_audio_s) == (1, 0, 0.0) and seconds > 1
    timing = TimingModel.from_env({"SIM_IMAGE_ENCODE_MS": "20", "SIM_AUDIO_ENCODE_MS_PER_S": "2"})
    assert timing.encode_ms(1, seconds) == pytest.approx(20 + 2 * seconds)
    assert timing.encode_ms(1, seconds, image_factor=2) == pytest.approx(40 + 2 * seconds)
    assert timing.encode_ms(0, seconds, audio_factor=2) == pytest.approx(4 * seconds)


def test_faults_read_from_environment_and_documented() -> None:
    faults = Faults.from_env({"SIM_FAULT_DIE_AFTER": "3", "SIM_FAULT_STREAM_NO_DONE": "1", "SIM_FAULT_BAD_USAGE": "0"})
    assert (faults.die_after, faults.stream_no_done, faults.bad_usage) == (3, True, False)
    assert faults.active() == ["stream_no_done", "die_after"]
    assert markdown_table().count("\n| `SIM_FAULT_") == len(Faults.__dataclass_fields__)


def test_model_comes_from_the_hub_cache_else_the_builtin_snapshot(tmp_path, monkeypatch) -> None:
    from selftests.fake_hub import REPO_ID, make_fake_snapshot
    from simulator.model import BUILTIN_MODEL_DIR, ModelNotFound, resolve_model_dir

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    assert resolve_model_dir(REPO_ID) == BUILTIN_MODEL_DIR
    snapshot = make_fake_snapshot(tmp_path)
    assert resolve_model_dir(REPO_ID) == snapshot
    assert FakeModel.load(REPO_ID).path == snapshot
    with pytest.raises(ModelNotFound, match="Invalid repository ID or local directory"):
        resolve_model_dir("/no/such/model")


def test_tokenize_and_models_answer_like_vllm() -> None:
    import json
    import threading
    import urllib.request

    from simulator.server import SimState, bind
    from simulator.timing import TimingModel

    state = SimState(model=MODEL, limits=replace(LIMITS, loras={"vision": "/snap/vision-lora"}), timing=TimingModel(),
                     faults=Faults(), ready=True)
    server = bind("127.0.0.1", 0, state)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        request = urllib.request.Request(f"{base}/tokenize", data=json.dumps({"prompt": "the red circle"}).encode(),
                                         headers={"content-type": "application/json"})
        tokenized = json.loads(urllib.request.urlopen(request, timeout=5).read())
        assert tokenized["count"] == 3 and len(tokenized["tokens"]) == 3 and tokenized["max_model_len"] == 8192
        models = json.loads(urllib.request.urlopen(f"{base}/v1/models", timeout=5).read())
        assert [(m["id"], m["parent"]) for m in models["data"]] == [("phi4mm", None), ("vision", "phi4mm")]
    finally:
        server.shutdown()
        server.server_close()


def test_trace_stamps_receipt_by_the_kernel_and_every_token(tmp_path) -> None:
    import json
    import threading
    import time
    import urllib.request

    from simulator.server import SimState, TraceLog, bind

    state = SimState(model=MODEL, limits=LIMITS, timing=TimingModel(ttft_base_ms=30, tpot_ms=5), faults=Faults(),
                     ready=True, trace=TraceLog(str(tmp_path / "trace.jsonl")))
    server = bind("127.0.0.1", 0, state)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    body = {"model": "phi4mm", "stream": True, "messages": [{"role": "user", "content": MANIFEST.text_prompts[0]["question"]}]}
    request = urllib.request.Request(f"http://127.0.0.1:{server.server_address[1]}/v1/chat/completions",
                                     data=json.dumps(body).encode(), headers={"content-type": "application/json",
                                                                              "x-request-id": "t-1"})
    try:
        before = time.time()
        urllib.request.urlopen(request, timeout=10).read()
        after = time.time()
    finally:
        server.shutdown()
        server.server_close()
    (row,) = [json.loads(line) for line in (tmp_path / "trace.jsonl").read_text().splitlines()]
    assert row["id"] == "t-1" and before <= row["received"] <= row["first_token"] <= after
    assert row["first_token"] - row["received"] >= 0.029  # the modelled TTFT, counted from the wire
    assert len(row["tokens"]) == 2 and row["tokens"] == sorted(row["tokens"])  # "Paris" and "."


def test_idle_keep_alive_connections_are_closed_like_uvicorn() -> None:
    """VLLM_HTTP_TIMEOUT_KEEP_ALIVE: after a response, a connection with no new request is closed."""
    state = SimState(model=MODEL, limits=LIMITS, timing=TimingModel.from_env({}), faults=Faults(), ready=True,
                     keep_alive_s=0.2)
    server = bind("127.0.0.1", 0, state)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with socket.create_connection(server.server_address[:2], timeout=3) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: sim\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
            answered = time.monotonic()
            assert sock.recv(65536) == b"", "the idle connection was not closed"
            assert 0.15 < time.monotonic() - answered < 2
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("width", "height", "tokens"), [
    (448, 448, 545), (640, 480, 1065), (2560, 1440, 5511), (2560, 1707, 6481), (2560, 1920, 7257), (28, 28, 545),
])
def test_image_tokens_follow_vllms_phi4mm_count(width, height, tokens) -> None:
    """vLLM's phi4mm.py _compute_num_image_tokens (dynamic_hd 36): the figures in shared/reference."""
    from simulator.media import phi4mm_image_tokens
    assert phi4mm_image_tokens(width, height) == tokens


@pytest.mark.parametrize("version", ["0.13.0", "0.18.0"])
def test_tokenize_counts_chat_messages_as_the_claimed_vllm_does(version) -> None:
    """From 0.17 as the chat endpoint counts them; 0.13 counts the text and a placeholder for the image."""
    import json
    import urllib.request
    limits = replace(LIMITS, claimed=ClaimedVersion.from_env({"SIM_VLLM_VERSION": version}))
    state = SimState(model=MODEL, limits=limits, timing=TimingModel(), faults=Faults(), ready=True)
    server = bind("127.0.0.1", 0, state)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    content = [image("large-2560px"), {"type": "text", "text": "What is written?"}]
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{server.server_address[1]}/tokenize", headers={"content-type": "application/json"},
            data=json.dumps({"model": "phi4mm", "messages": [{"role": "user", "content": content}]}).encode())
        counted = json.loads(urllib.request.urlopen(request, timeout=5).read())["count"]
    finally:
        server.shutdown()
    expected = chat(content).prompt_tokens if version == "0.18.0" else chat([content[1]]).prompt_tokens + 1
    assert counted == expected and chat(content).prompt_tokens > 5511


@pytest.mark.parametrize(("version", "file_url", "input_audio_lora"), [
    ("0.17.0", 400, None), ("0.18.0", 500, None), ("0.33.0", 500, None), ("0.34.0", 400, "audio"),
])
def test_claimed_releases_refuse_local_files_and_pick_adapters_as_vllm_does(version, file_url, input_audio_lora) -> None:
    """A file:// URL is 400 to 0.17, 500 from 0.18, 400 again from 0.34; an input_audio part gets the `audio`
    --default-mm-loras adapter from 0.34 (its `input_` prefix dropped), none before."""
    limits = replace(LIMITS, claimed=ClaimedVersion.from_env({"SIM_VLLM_VERSION": version}))
    assert limits.claimed.refusal_status == file_url
    part = {"type": "input_audio", "input_audio": {"data": base64.b64encode(wav(0.5)).decode(), "format": "wav"}}
    assert limits.applied_lora("phi4mm", [{"role": "user", "content": [part]}]) == input_audio_lora


def test_a_server_behaving_as_an_older_release_still_reports_the_newer_one() -> None:
    claimed = ClaimedVersion.from_env({"SIM_VLLM_VERSION": "0.34.0"}).behaving_as_minor(33)
    assert claimed.text == "0.34.0+simulator" and claimed.refusal_status == 500 and not claimed.omits_null_annotations
    assert ClaimedVersion.from_env({"SIM_VLLM_VERSION": "0.34.0"}).behaving_as_minor(0).omits_null_annotations


@pytest.mark.parametrize(("version", "status"), [("0.17.0", 400), ("0.18.0", 501), ("0.20.0", 501), ("0.21.0", 400)])
def test_an_unknown_content_part_is_answered_as_the_claimed_vllm_does(version, status) -> None:
    limits = replace(LIMITS, claimed=ClaimedVersion.from_env({"SIM_VLLM_VERSION": version}))
    with pytest.raises(ApiError) as error:
        chat([{"type": "hologram", "hologram": {"url": "x"}}, {"type": "text", "text": "?"}], limits=limits)
    assert error.value.status == status
