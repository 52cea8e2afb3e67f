"""`vllm bench serve`, the users' reference tool: its command line, a timed run, and its result JSON.

The seed's shape (`--dataset-name random --random-input 1024 --num-prompt 200 --request-rate 1
--save-result`) with the chat endpoint and percentiles 50,90,99, so the result has the same keys as the
suite's own load generator and both are judged by the same budgets; a load with images uses vLLM's `random-mm`
dataset, which sends fresh random pictures as the suite's own loads do.
"""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phi4mm_acceptance.deployment.endpoint import Endpoint
from phi4mm_acceptance.deployment.launch.container import on_host, seen_inside
from phi4mm_acceptance.deployment.settings import LaunchSettings, ToolSettings
from phi4mm_acceptance.toolrun import InContainer, output_tail, run_in_group

REQUIRED_KEYS = ("duration", "completed", "failed", "total_input_tokens", "total_output_tokens",
                 "request_throughput", "output_throughput", "total_token_throughput")
METRIC_KEYS = tuple(f"{stat}_{metric}_ms" for metric in ("ttft", "tpot", "itl", "e2el")
                    for stat in ("mean", "median", "std", "p50", "p90", "p99"))


class VllmBenchError(RuntimeError):
    """The tool did not produce a usable result; the message says why, with its output's tail."""


@dataclass(frozen=True)
class BenchRun:
    num_prompts: int
    request_rate: float
    input_len: int
    output_len: int
    max_concurrency: int | None = None
    images: int = 0  # a load with images: vLLM's random-mm dataset, that many fresh random pictures a request
    image_px: int = 448
    seed: int = 0  # vllm bench's --seed: its pictures' pixels (and prompts) follow it


@dataclass(frozen=True)
class BenchPlacement:
    """Where the tool runs: its command, and its result folder as it sees it and as this host sees it."""

    vllm: list[str]
    result_dir_seen_by_tool: Path
    result_dir: Path
    tokenizer: str  # --tokenizer as the tool sees it: a hub id, or a folder through the container's mounts
    container: str | None = None  # the serving container it runs in, where a timeout must kill it too


def bench_placement(tools: ToolSettings, launch: LaunchSettings, endpoint: Endpoint, load: str,
                    out_dir: Path) -> BenchPlacement | None:
    """--vllm-bench (or vllm on PATH) on this host; for the docker target, the serving container's own vLLM
    via `docker exec` (the API key and proxy bypass passed in by name, never by value), writing into the
    shared /data mount, with a local tokenizer folder named as the container sees it; None when there is no vllm
    to run."""
    if tools.vllm_bench:
        return BenchPlacement(tools.vllm_bench, out_dir, out_dir, tools.tokenizer)
    container = endpoint.container_name
    if launch.target == "docker" and container and shutil.which("docker"):
        inside = Path("/data/phi4mm-bench") / f"{container}-{load}"
        passed = [f"--env={name}" for name in ("OPENAI_API_KEY", "NO_PROXY", "no_proxy")]
        return BenchPlacement(["docker", "exec", *passed, container, "vllm"], inside,
                              on_host(launch, str(inside)), tokenizer_inside(tools, launch), container)
    return None


def tokenizer_inside(tools: ToolSettings, launch: LaunchSettings) -> str:
    """--tokenizer for the tool in the serving container: a hub id as it is, a local folder (by default the
    --model-path one) through the mount that holds it."""
    folder = Path(tools.tokenizer)
    if not folder.is_dir():
        return tools.tokenizer
    inside = seen_inside(launch, folder)
    if inside is None:
        raise VllmBenchError(f"--tokenizer {folder} is not in any folder the serving container mounts: "
                             "vllm bench serve runs inside it (pass a hub id or a folder under a mount)")
    return inside


def dataset_args(run: BenchRun) -> list[str]:
    """`random` for text; for a load with images vLLM's `random-mm`: exactly `images` pictures a request (range
    ratio 0), each image_px square (its one bucket), random pixels drawn per request so no cache answers, from
    the run's own seed (the default, 0, sends a server the same pictures every run). The same options in vLLM
    0.11-0.33 (read from each release's benchmarks/datasets.py)."""
    if not run.images:
        return ["--dataset-name", "random"]
    return ["--dataset-name", "random-mm", "--seed", str(run.seed),
            "--random-mm-base-items-per-request", str(run.images),
            "--random-mm-num-mm-items-range-ratio", "0",
            "--random-mm-limit-mm-per-prompt", json.dumps({"image": run.images, "video": 0}),
            "--random-mm-bucket-config", f"{{({run.image_px}, {run.image_px}, 1): 1.0}}"]


def bench_command(vllm: list[str], endpoint: Endpoint, tokenizer: str, run: BenchRun,
                  result_dir: Path) -> list[str]:
    return [*vllm, "bench", "serve", "--backend", "openai-chat", "--endpoint", "/v1/chat/completions",
            "--base-url", endpoint.base_url, "--model", endpoint.model, "--tokenizer", tokenizer, "--trust-remote-code",
            *dataset_args(run), "--random-input-len", str(run.input_len),
            "--random-output-len", str(run.output_len), "--num-prompts", str(run.num_prompts),
            "--request-rate", str(run.request_rate), "--percentile-metrics", "ttft,tpot,itl,e2el",
            "--metric-percentiles", "50,90,99", "--save-result", "--save-detailed", "--result-dir", str(result_dir),
            "--ready-check-timeout-sec", "0",
            *(["--max-concurrency", str(run.max_concurrency)] if run.max_concurrency else [])]


def parse_result(path: Path) -> dict[str, Any]:
    """The result file's figures; a file missing a metric the budgets need is an error, not a silent pass.
    vLLM 0.11's has no `failed`: the prompts it did not complete (read from its serve.py)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise VllmBenchError(f"cannot read vllm bench result {path}: {exc}") from None
    if "failed" not in data and isinstance(data.get("num_prompts"), int) and isinstance(data.get("completed"), int):
        data["failed"] = data["num_prompts"] - data["completed"]
    missing = [key for key in (*REQUIRED_KEYS, *METRIC_KEYS) if not isinstance(data.get(key), (int, float))]
    if missing:
        raise VllmBenchError(f"vllm bench result {path.name} lacks {', '.join(missing[:6])}"
                             f"{' ...' if len(missing) > 6 else ''}")
    return data


def bench_samples(result: dict[str, Any]) -> dict[str, list[float]]:
    """Each metric's samples in ms from --save-detailed's per-request lists, defined as vLLM defines them: a
    request succeeded without an error and with output; its latency is its TTFT plus its gaps (serve.py sets it
    to the last chunk's arrival), its TPOT those gaps over output tokens - 1. The same lists in 0.11, 0.23 and 0.33
    (read from their benchmarks/serve.py). Without them (a tool that ignored the option): no samples, and the
    comparisons name each figure as one they could not judge."""
    ttfts, itls, lens = (result.get(key) or [] for key in ("ttfts", "itls", "output_lens"))
    errors = result.get("errors") or [""] * len(ttfts)
    ok = [(ttft, gaps, n) for ttft, gaps, n, error in zip(ttfts, itls, lens, errors) if not error and n]
    return {
        "ttft_ms": [ttft * 1000 for ttft, _, _ in ok],
        "tpot_ms": [sum(gaps) / (n - 1) * 1000 for _, gaps, n in ok if n > 1],
        "itl_ms": [gap * 1000 for _, gaps, _ in ok for gap in gaps],
        "e2el_ms": [(ttft + sum(gaps)) * 1000 for ttft, gaps, _ in ok],
    }


def run_vllm_bench(command: list[str], endpoint: Endpoint, result_dir: Path, timeout_s: float, log_path: Path,
                   container: str | None = None, heartbeat: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Run the tool in its own process group (killed whole on timeout, and inside `container` if it runs
    there) and parse the newest result file. The API key goes by environment (OPENAI_API_KEY, which vllm
    bench reads), never on the command line; without one, a key this shell happens to hold is not sent."""
    result_dir.mkdir(parents=True, exist_ok=True)
    before = set(result_dir.glob("*.json"))
    env = {name: value for name, value in os.environ.items() if name != "OPENAI_API_KEY"}
    env |= {"NO_PROXY": "*", "no_proxy": "*", **({"OPENAI_API_KEY": endpoint.api_key} if endpoint.api_key else {})}
    code = run_in_group(command, log_path, timeout_s, env=env,
                        inside=InContainer(container, "vllm bench") if container else None, heartbeat=heartbeat)
    if code is None:
        raise VllmBenchError(f"vllm bench serve did not finish in {timeout_s:.0f} s{output_tail(log_path)}")
    new = sorted(set(result_dir.glob("*.json")) - before, key=lambda p: p.stat().st_mtime)
    if code != 0 or not new:
        raise VllmBenchError(f"vllm bench serve exited with code {code} and "
                             f"{'no result file' if not new else 'a result'}{output_tail(log_path)}")
    return parse_result(new[-1])
