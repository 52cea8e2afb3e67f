"""AISBench's performance mode, the seed's "Performance Evaluation: Using AISBench": `ais_bench --mode perf` with
a streamed chat model config, on its synthetic text dataset (the profile's text load: its request count, input
tokens, output tokens, rate and concurrency) and on `textvqa_gen_base64` (the image load's request count and
output tokens, pictures from the local dataset).

Its figures come from its own result files, renamed to the suite's (vllm bench serve's) metric names:
performances/<abbr>/<dataset>.csv (TTFT, TPOT, ITL, E2EL: Average, Median, P90, P99, units in each cell) and
<dataset>.json (duration, counts, throughputs). The samples the comparisons judge come from its per-request
timestamps (<dataset>_details.jsonl and the SQLite file it names: one float64 array a request, the send time
and one stamp per server-sent event), with AISBench's definitions (summarizers/default_perf.py): TTFT the first
event, E2EL the last, ITL the gaps between events, TPOT (E2EL - TTFT) / (output tokens - 1). Its first event is
vLLM's role chunk, sent with the first token, so its TTFT is vllm bench's; its last is the usage chunk. Read
from AISBench 3.1 (the facts: /work/shared/reference/samples/aisbench/perf-run and runs against the simulator).
"""
from __future__ import annotations

import io
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

from phi4mm_acceptance.accuracy.aisbench import (
    MODEL_CONFIG,
    AisbenchError,
    AisbenchPlacement,
    AisbenchRun,
    model_config,
    seen_in_container,
)
from phi4mm_acceptance.deployment.endpoint import Endpoint
from phi4mm_acceptance.deployment.launch.container import host_hub_cache
from phi4mm_acceptance.deployment.profile import PerformanceSpec
from phi4mm_acceptance.deployment.settings import LaunchSettings, ToolSettings
from phi4mm_acceptance.deployment.weights import WeightsError, resolve_snapshot

SYNTHETIC_CONFIG = "phi4mm_synthetic_gen"  # our own dataset config: the packaged one reads a file in site-packages
TEXTVQA_CONFIG = "textvqa_gen_base64"
DATASET_FOR_LOAD = {"text": SYNTHETIC_CONFIG, "image": TEXTVQA_CONFIG}  # the loads AISBench's datasets can drive
STATISTICS = {"Average": "mean", "Median": "median", "P90": "p90", "P99": "p99"}
LATENCIES = {"TTFT": "ttft", "TPOT": "tpot", "ITL": "itl", "E2EL": "e2el"}
COMMON = {"Benchmark Duration": "duration", "Success Requests": "completed", "Failed Requests": "failed",
          "Request Throughput": "request_throughput", "Output Token Throughput": "output_throughput",
          "Total Token Throughput": "total_token_throughput", "Total Input Tokens": "total_input_tokens",
          "Total Generated Tokens": "total_output_tokens"}
_NUMBER = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([a-z/]*)\s*$")

PERF_HANG_RETRIES = 1  # a perf run is minutes: one killed at its deadline runs once more (AisbenchHang)


def synthetic_config(num_prompts: int, input_len: int) -> str:
    """The synthetic dataset: `num_prompts` prompts of `input_len` random token ids (decoded with the model
    config's tokenizer; the chat template adds a few), their output length the model config's max_out_len."""
    config = {"Type": "tokenid", "RequestCount": num_prompts, "TrustRemoteCode": True,
              "TokenIdConfig": {"RequestSize": input_len, "PrefixLen": 0}}
    return (
        "from ais_bench.benchmark.openicl.icl_prompt_template import PromptTemplate\n"
        "from ais_bench.benchmark.openicl.icl_retriever import ZeroRetriever\n"
        "from ais_bench.benchmark.openicl.icl_inferencer import GenInferencer\n"
        "from ais_bench.benchmark.datasets import SyntheticDataset, MATHEvaluator, math_postprocess_v2\n\n"
        f"synthetic_config = {config!r}\n\n"
        "synthetic_datasets = [dict(\n"
        "    abbr='synthetic', type=SyntheticDataset, config=synthetic_config,\n"
        "    reader_cfg=dict(input_columns=['question'], output_column='answer'),\n"
        "    infer_cfg=dict(prompt_template=dict(type=PromptTemplate, template='{question}'),\n"
        "                   retriever=dict(type=ZeroRetriever), inferencer=dict(type=GenInferencer)),\n"
        "    eval_cfg=dict(evaluator=dict(type=MATHEvaluator, version='v2'),\n"
        "                  pred_postprocessor=dict(type=math_postprocess_v2)),\n"
        ")]\n"
    )


def tokenizer_for_tool(tools: ToolSettings, launch: LaunchSettings, placement: AisbenchPlacement) -> str:
    """The local tokenizer folder perf mode needs (it will not take a hub id), as the tool sees it: --tokenizer's
    folder, else the model's snapshot in the Hugging Face cache, through the container's mounts when AISBench
    runs in the serving container."""
    folder = Path(tools.tokenizer)
    if not folder.is_dir():
        cache = launch.hf_cache or (host_hub_cache(launch) if launch.target == "docker" else None)
        try:
            folder = resolve_snapshot(tools.tokenizer, cache, offline=True)
        except WeightsError as exc:
            raise AisbenchError(f"AISBench's perf mode needs a local tokenizer folder: {exc}; pass --tokenizer DIR"
                                ) from None
    if placement.container is None:
        return str(folder)
    inside = seen_in_container(launch, folder)
    if inside is None:
        raise AisbenchError(f"the tokenizer folder {folder} is not under a folder the serving container shares, "
                            "where AISBench runs")
    return str(inside)


def perf_run(load: PerformanceSpec, endpoint: Endpoint, tokenizer: str, timeout_s: float) -> AisbenchRun:
    """The ais_bench call for a load: all requests streamed, exactly `output_len` tokens each (ignore_eos), at
    the load's rate (all at once: 0) and concurrency (none: all in flight)."""
    rate = 0 if load.request_rate == float("inf") else load.request_rate
    configs = {f"models/{MODEL_CONFIG}.py": model_config(
        endpoint.base_url, endpoint.model, load.max_concurrency or load.num_prompts, load.output_len,
        endpoint.api_key, stream=True,
        tokenizer=tokenizer, request_rate=rate, ignore_eos=True)}
    dataset = DATASET_FOR_LOAD[load.name]
    if dataset == SYNTHETIC_CONFIG:
        configs[f"datasets/{SYNTHETIC_CONFIG}.py"] = synthetic_config(load.num_prompts, load.input_len)
    return AisbenchRun(f"perf-{load.name}", dataset, "perf", configs, timeout_s,
                       ("--num-prompts", str(load.num_prompts)), hang_retries=PERF_HANG_RETRIES)


def _number(cell: object, where: str) -> float:
    """`57.4543 ms` -> 57.4543 (ms; seconds become ms), `69.6 req/s` -> 69.6, `4` -> 4."""
    match = _NUMBER.match(str(cell))
    if not match:
        raise AisbenchError(f"AISBench wrote {cell!r} for {where}: no number")
    value, unit = float(match.group(1)), match.group(2)
    return value * 1000 if unit == "s" else value


def performance_files(out_dir: Path) -> tuple[Path, Path, Path]:
    """The run's <dataset>.csv, <dataset>.json and <dataset>_details.jsonl."""
    found = sorted((out_dir / "run").glob("performances/*/*_details.jsonl"))
    if not found:
        raise AisbenchError(f"AISBench wrote no performance results under {out_dir / 'run'}")
    details = found[-1]
    stem = details.name.removesuffix("_details.jsonl")
    return details.with_name(f"{stem}.csv"), details.with_name(f"{stem}.json"), details


def parse_perf(out_dir: Path) -> dict[str, Any]:
    """The figures, under the suite's metric names (latencies in ms, durations in s as vllm bench's)."""
    csv_path, json_path, _ = performance_files(out_dir)
    results: dict[str, Any] = {}
    rows = [line.split(",") for line in csv_path.read_text().splitlines()]
    header = rows[0]
    for row in rows[1:]:
        if row[0] in LATENCIES:
            for column, stat in STATISTICS.items():
                results[f"{stat}_{LATENCIES[row[0]]}_ms"] = _number(row[header.index(column)], f"{row[0]} {column}")
    common = json.loads(json_path.read_text())
    for name, key in COMMON.items():
        if name in common:
            results[key] = _number(common[name]["total"], name)
    results["duration"] = results.get("duration", 0.0) / 1000
    for key in ("completed", "failed", "total_input_tokens", "total_output_tokens"):
        if key in results:
            results[key] = int(results[key])
    missing = [f"{stat}_{metric}_ms" for metric in LATENCIES.values() for stat in STATISTICS.values()
               if f"{stat}_{metric}_ms" not in results] + [key for key in COMMON.values() if key not in results]
    if missing:
        raise AisbenchError(f"AISBench's results {csv_path.name}, {json_path.name} lack {', '.join(missing[:6])}")
    return results


def perf_samples(out_dir: Path) -> dict[str, list[float]]:
    """Each metric's samples in ms, from every successful request's timestamps, as AISBench defines them."""
    import numpy  # AISBench stores each request's stamps as numpy's .npy bytes; numpy comes with scipy

    _, _, details = performance_files(out_dir)
    requests = [json.loads(line) for line in details.read_text().splitlines() if line.strip()]
    stamps: dict[tuple[str, int], list[float]] = {}
    for db_name in {r.get("db_name") for r in requests if r.get("db_name")}:
        path = details.parent / "db_data" / db_name
        if not path.is_file():
            raise AisbenchError(f"AISBench's {details.name} names {db_name}, which is not in {path.parent}")
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            for key, blob in db.execute("SELECT id, arr_blob FROM numpy_store"):
                stamps[(db_name, int(key))] = [float(t) for t in numpy.load(io.BytesIO(blob))]
    samples: dict[str, list[float]] = {"ttft_ms": [], "tpot_ms": [], "itl_ms": [], "e2el_ms": []}
    for request in requests:
        points = stamps.get((request.get("db_name"), int((request.get("time_points") or {}).get("__db_ref__", -1))))
        if not request.get("success") or not points or len(points) < 2:
            continue
        ms = [(t - points[0]) * 1000 for t in points]
        samples["ttft_ms"].append(ms[1])
        samples["e2el_ms"].append(ms[-1])
        samples["itl_ms"] += [later - earlier for earlier, later in zip(ms[1:], ms[2:])]
        if request.get("output_tokens", 0) > 1:
            samples["tpot_ms"].append((ms[-1] - ms[1]) / (request["output_tokens"] - 1))
    return samples


def failed_reasons(out_dir: Path) -> list[str]:
    _, _, details = performance_files(out_dir)
    requests = [json.loads(line) for line in details.read_text().splitlines() if line.strip()]
    return sorted({str(r.get("error_info") or "unknown") for r in requests if not r.get("success")})
