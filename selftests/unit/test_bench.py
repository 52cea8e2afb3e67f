"""Benchmark metrics, budgets and the vllm bench parser, on known inputs and the real tool's result files."""
from __future__ import annotations

import ast
import base64
import io
import json
import wave
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from phi4mm_acceptance.deployment.endpoint import Endpoint
from phi4mm_acceptance.performance.budgets import budgets_from_profile
from phi4mm_acceptance.performance.loadgen import (
    LoadShape,
    arrival_offsets,
    read_stream,
    request_clips,
    request_images,
    request_kinds,
    request_message,
)
from phi4mm_acceptance.performance.metrics import RequestRecord, percentile, summarise
from phi4mm_acceptance.performance.vllm_bench import (
    METRIC_KEYS,
    BenchRun,
    VllmBenchError,
    bench_command,
    bench_samples,
    parse_result,
)
from phi4mm_acceptance.protocol.media import load_manifest

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "vllm-bench"


def test_percentile_interpolates_like_numpy() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([10, 20, 30, 40, 50], 90) == pytest.approx(46.0)
    assert percentile([7], 99) == 7 and percentile([], 50) == 0.0


def sse(*events: object) -> list[tuple[float, bytes]]:
    """Stream events 10 ms apart from t = 1 s, as the load generator's client hands them over."""
    return [(1.0 + 0.01 * i, b"data: " + (e if isinstance(e, bytes) else json.dumps(e).encode()))
            for i, e in enumerate(events)]


def delta(text: str) -> dict[str, object]:
    return {"choices": [{"index": 0, "delta": {"content": text}}]}


ROLE = {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}  # vLLM's opening chunk


def usage(completion: object) -> dict[str, object]:
    return {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": completion}}


@pytest.mark.parametrize(("events", "error"), [
    ((delta("a"), delta("b"), delta("c"), usage(3), b"[DONE]"), ""),
    ((delta("a"), delta("b"), usage(2), b"[DONE]"), "asked for 3 tokens with ignore_eos, the usage says 2"),
    ((delta("a"), delta("b"), delta("c"), usage(5), b"[DONE]"), "asked for 3 tokens with ignore_eos, the usage says 5"),
    ((delta("a"), delta("b"), delta("c"), b"[DONE]"), "usage chunk (stream_options.include_usage) is missing"),
    ((delta("a"), delta("b"), delta("c"), usage("3")), "usage chunk (stream_options.include_usage) is missing or "
                                                       "malformed"),
    ((delta("a"), b"[]", usage(3)), "malformed stream event b'[]'"),
    ((ROLE, usage(3), b"[DONE]"), "the usage says 3 tokens, the stream carried no token chunk"),
    ((delta("a"), delta(""), delta(""), usage(3), b"[DONE]"), ""),  # tokens that decode to nothing (real vLLM 0.32)
], ids=["exact", "short", "padded", "no-usage", "usage-not-a-number", "not-an-object", "no-token-chunk",
        "tokens-without-text"])
def test_streams_must_carry_exactly_the_tokens_asked_for(events: tuple[object, ...], error: str) -> None:
    record = RequestRecord(sent_s=0.0)
    read_stream(sse(*events), sent=0.95, start=0.0, record=record, output_len=3)
    assert error in record.error if error else record.error == ""
    assert record.success == (not error)
    if not error:
        assert record.ttft_s == pytest.approx(0.05) and record.itls_s == pytest.approx([0.01, 0.01])
        assert (record.prompt_tokens, record.output_tokens) == (7, 3)


def test_metrics_follow_vllm_bench_definitions() -> None:
    records = [RequestRecord(sent_s=0.0, success=True, ttft_s=0.05, latency_s=0.35, itls_s=[0.1, 0.1, 0.1],
                             chunk_times_s=[0.05, 0.15, 0.25, 0.35], prompt_tokens=100, output_tokens=4),
               RequestRecord(sent_s=0.1, success=True, ttft_s=0.07, latency_s=0.07, chunk_times_s=[0.17],
                             prompt_tokens=100, output_tokens=1),
               RequestRecord(sent_s=0.2, error="HTTP 500")]
    m = summarise(records, duration_s=2.0)
    assert (m["completed"], m["failed"], m["total_output_tokens"]) == (2, 1, 5)
    assert m["mean_ttft_ms"] == pytest.approx(60.0)
    assert m["mean_tpot_ms"] == pytest.approx(100.0)  # only the request with more than one token
    assert m["mean_itl_ms"] == pytest.approx(100.0) and m["p99_e2el_ms"] == pytest.approx(347.2)
    assert m["output_throughput"] == 2.5 and m["request_throughput"] == 1.0
    assert m["max_concurrent_requests"] == 2 and m["max_output_tokens_per_s"] == 5.0
    assert set(METRIC_KEYS) <= set(m)


def test_poisson_arrivals_have_the_requested_rate() -> None:
    import random

    offsets = arrival_offsets(LoadShape(2000, 8, 8, request_rate=10.0), random.Random(1))
    assert offsets[0] == 0 and offsets == sorted(offsets)
    assert 1999 / offsets[-1] == pytest.approx(10.0, rel=0.08)
    assert arrival_offsets(LoadShape(5, 8, 8), random.Random(1)) == [0.0] * 5


def test_every_request_of_an_image_load_carries_pictures_of_its_own() -> None:
    """No two requests (nor two loads started elsewhere in the numbering) share a picture, so no cache answers."""
    shape = LoadShape(num_prompts=6, input_len=8, output_len=8, images=2, image_px=64, first_item=1000)
    pictures = [url for number in range(shape.num_prompts) for url in request_images(shape, number)]
    assert len(pictures) == 12 and len(set(pictures)) == 12
    assert all(url.startswith("data:image/png;base64,") for url in pictures)
    assert request_images(LoadShape(1, 8, 8), 0) == []


def test_every_request_of_an_audio_load_carries_a_clip_of_its_own_of_the_length_asked() -> None:
    speech = load_manifest().transcription_clips[0].path.read_bytes()
    shape = LoadShape(num_prompts=4, input_len=8, output_len=8, images=1, image_px=64, clips=1, clip_s=7.5,
                      speech=speech)
    urls = [url for number in range(4) for url in request_clips(shape, number)]
    assert len(set(urls)) == 4
    with wave.open(io.BytesIO(base64.b64decode(urls[0].split(",", 1)[1]))) as clip:
        assert clip.getnframes() == 7.5 * clip.getframerate() and clip.getnchannels() == 1
    content = request_message(shape, 2, "Describe both.")[0]["content"]
    assert [part["type"] for part in content] == ["image_url", "audio_url", "text"]


def test_a_production_mix_sends_each_kind_its_share_in_a_fixed_order() -> None:
    """Shares rounded so the counts add up, the same blend and order every run, each kind with its own media."""
    speech = load_manifest().transcription_clips[0].path.read_bytes()
    shape = LoadShape(num_prompts=7, input_len=8, output_len=8, images=1, image_px=64, clips=1, speech=speech,
                      mix=(("text", 0.5), ("image", 0.3), ("audio", 0.15), ("image_audio", 0.05)))
    kinds = request_kinds(shape)
    assert Counter(kinds) == {"text": 4, "image": 2, "audio": 1} and kinds == request_kinds(shape)
    assert kinds != sorted(kinds, key=[kind for kind, _ in shape.mix].index)  # interleaved, not in blocks
    parts = {kind: [part["type"] for part in request_message(shape, 0, "Hi.", kind)[0]["content"]]
             for kind in ("text", "image", "audio", "image_audio")}
    assert parts == {"text": ["text"], "image": ["image_url", "text"], "audio": ["audio_url", "text"],
                     "image_audio": ["image_url", "audio_url", "text"]}
    assert request_kinds(replace(shape, mix=())) == ["image_audio"] * 7  # no mix: every request carries both


@pytest.mark.parametrize("sample", sorted(SAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_real_vllm_bench_results_parse(sample: Path) -> None:
    result = parse_result(sample)
    assert result["completed"] == 50 and result["failed"] == 0
    assert result["p99_ttft_ms"] >= result["median_ttft_ms"] > 0


@pytest.mark.parametrize("metric", ["ttft", "tpot", "itl", "e2el"])
def test_samples_from_save_detailed_give_the_tools_own_figures(metric: str) -> None:
    """The samples the comparisons judge are the ones behind vllm bench's figures: its mean and p99 again."""
    result = parse_result(SAMPLES / "burst-concurrency32.json")
    samples = bench_samples(result)[f"{metric}_ms"]
    assert sum(samples) / len(samples) == pytest.approx(result[f"mean_{metric}_ms"], rel=1e-12)
    assert percentile(samples, 99) == pytest.approx(result[f"p99_{metric}_ms"], rel=1e-12)


def test_failed_requests_of_vllm_bench_give_no_samples() -> None:
    result = {"ttfts": [0.05, 0.0], "itls": [[0.01, 0.02], []], "output_lens": [3, 0], "errors": ["", "HTTP 500"]}
    assert bench_samples(result) == {"ttft_ms": [50.0], "tpot_ms": [15.0], "itl_ms": [10.0, 20.0],
                                     "e2el_ms": [pytest.approx(80.0)]}


def test_result_missing_a_metric_is_an_error(tmp_path: Path) -> None:
    data = json.loads((SAMPLES / "seed-style-10qps.json").read_text())
    del data["p99_itl_ms"]
    (tmp_path / "r.json").write_text(json.dumps(data))
    with pytest.raises(VllmBenchError, match="lacks p99_itl_ms"):
        parse_result(tmp_path / "r.json")


def test_a_result_without_failed_counts_the_prompts_not_completed(tmp_path: Path) -> None:
    """vLLM 0.11's vllm bench writes no `failed` (0.13 added it)."""
    data = json.loads((SAMPLES / "seed-style-10qps.json").read_text())
    del data["failed"]
    (tmp_path / "r.json").write_text(json.dumps({**data, "num_prompts": 50, "completed": 48}))
    assert parse_result(tmp_path / "r.json")["failed"] == 2


def test_bench_command_is_the_seeds_shape() -> None:
    command = bench_command(["vllm"], Endpoint.at("http://h:8000", "phi4mm"), "/tok", BenchRun(200, 1.0, 1024, 128), Path("out"))
    joined = " ".join(command)
    for part in ("bench serve", "--dataset-name random", "--random-input-len 1024", "--num-prompts 200",
                 "--request-rate 1.0", "--save-result", "--backend openai-chat", "--metric-percentiles 50,90,99"):
        assert part in joined


def test_an_image_load_is_vllms_random_mm_with_exactly_its_pictures() -> None:
    command = bench_command(["vllm"], Endpoint.at("http://h:8000", "phi4mm"), "/tok", BenchRun(50, 1.0, 64, 128, None, 2, 896),
                            Path("out"))
    flags = dict(zip(command, command[1:]))
    assert flags["--dataset-name"] == "random-mm" and flags["--random-mm-base-items-per-request"] == "2"
    assert flags["--random-mm-num-mm-items-range-ratio"] == "0"
    assert json.loads(flags["--random-mm-limit-mm-per-prompt"]) == {"image": 2, "video": 0}
    assert ast.literal_eval(flags["--random-mm-bucket-config"]) == {(896, 896, 1): 1.0}  # as vllm bench parses it
    assert flags["--random-input-len"] == "64" and flags["--seed"] == "0"  # the test draws one a run


def test_budgets_judge_ceilings_and_the_throughput_floor() -> None:
    budgets = budgets_from_profile({"max_p99_ttft_ms": 100, "max_failed": 0, "baseline_output_throughput": 1000},
                                   "test origin")
    verdicts = {b.metric: b.judge({"p99_ttft_ms": 120.0, "failed": 0, "output_throughput": 980.0}) for b in budgets}
    assert not verdicts["p99_ttft_ms"].passed and verdicts["failed"].passed
    assert verdicts["output_throughput"].passed  # 980 >= 0.97 x 1000
    assert verdicts["p99_ttft_ms"].message == "p99_ttft_ms = 120.00, budget <= 100.00 (test origin): OVER BUDGET"
    low = budgets[-1].judge({"output_throughput": 900.0})
    assert not low.passed and "UNDER BUDGET" in low.message and "0.97 x baseline 1000" in low.message


def test_vllm_bench_runs_inside_the_serving_container_for_the_docker_target(tmp_path: Path) -> None:
    from phi4mm_acceptance.deployment.launch.base import Server
    from phi4mm_acceptance.deployment.settings import raw_values, resolve_settings
    from phi4mm_acceptance.performance.vllm_bench import bench_placement

    settings = resolve_settings(raw_values({"phi4mm_profile": "atlas-800i-a2", "phi4mm_host_root": str(tmp_path)},
                                           {}))
    server = Server("http://127.0.0.1:8000", "phi4mm", "docker", None, None, 1.0, container_name="c1")
    placement = bench_placement(settings.tools, settings.launch, Endpoint(server), "text", tmp_path / "out")
    assert placement is not None and placement.container == "c1"
    assert placement.vllm == ["docker", "exec", "--env=OPENAI_API_KEY", "--env=NO_PROXY", "--env=no_proxy", "c1", "vllm"]
    assert placement.result_dir_seen_by_tool == Path("/data/phi4mm-bench/c1-text")
    assert placement.result_dir == tmp_path / "data/phi4mm-bench/c1-text"


@pytest.mark.parametrize(("tokenizer", "seen"), [
    (None, "/models/snapshot"),  # the --model-path folder, where the container mounts it
    ("microsoft/Phi-4-multimodal-instruct", "microsoft/Phi-4-multimodal-instruct"),  # a hub id, as it is
    ("{host}/data/tok", "/data/tok"),  # under a shared mount
], ids=["model-folder", "hub-id", "under-data-mount"])
def test_vllm_bench_in_the_container_gets_the_tokenizer_as_the_container_sees_it(
        tmp_path: Path, tokenizer: str | None, seen: str) -> None:
    from phi4mm_acceptance.deployment.launch.base import Server
    from phi4mm_acceptance.deployment.settings import raw_values, resolve_settings
    from phi4mm_acceptance.performance.vllm_bench import bench_placement

    model, host = tmp_path / "snapshot", tmp_path / "host"
    for folder in (model, host / "data" / "tok"):
        folder.mkdir(parents=True)
    cli = {"phi4mm_profile": "atlas-800i-a2", "phi4mm_host_root": str(host), "phi4mm_model_path": str(model)}
    if tokenizer:
        cli["phi4mm_tokenizer"] = tokenizer.format(host=host)
    server = Server("http://127.0.0.1:8000", "phi4mm", "docker", None, None, 1.0, container_name="c1")
    settings = resolve_settings(raw_values(cli, {}))
    placement = bench_placement(settings.tools, settings.launch, Endpoint(server), "text", tmp_path / "out")
    assert placement is not None and placement.tokenizer == seen


def test_a_tokenizer_folder_the_container_cannot_see_is_named(tmp_path: Path) -> None:
    from phi4mm_acceptance.deployment.launch.base import Server
    from phi4mm_acceptance.deployment.settings import raw_values, resolve_settings
    from phi4mm_acceptance.performance.vllm_bench import bench_placement

    cli = {"phi4mm_profile": "atlas-800i-a2", "phi4mm_host_root": str(tmp_path / "host"),
           "phi4mm_tokenizer": str(tmp_path)}
    server = Server("http://127.0.0.1:8000", "phi4mm", "docker", None, None, 1.0, container_name="c1")
    settings = resolve_settings(raw_values(cli, {}))
    with pytest.raises(VllmBenchError, match=f"--tokenizer {tmp_path} is not in any folder the serving container"):
        bench_placement(settings.tools, settings.launch, Endpoint(server), "text", tmp_path / "out")
