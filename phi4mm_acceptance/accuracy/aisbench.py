"""AISBench (`ais_bench`) against the server under test: generated config, a guarded run, parsed results.

The suite writes the model config for the server (host, port, served name, batch size, max_out_len,
temperature 0) into a scratch folder, runs one dataset per call there with its own `-w` (AISBench writes
./tmp and ./outputs into its working directory), `TERM=dumb` (no curses board), `NO_PROXY` for the server
and a timeout that kills the whole process group (AISBench has no request timeout). Exit code 0 proves
nothing: the summary CSV's cell, `*_failed.jsonl` and the logs decide. The output folder is copied under
reports/ with any API key scrubbed.
"""
from __future__ import annotations

import csv
import glob
import os
import re
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from phi4mm_acceptance.deployment.endpoint import Endpoint
from phi4mm_acceptance.deployment.launch.container import on_host
from phi4mm_acceptance.deployment.logwatch import strip_ansi
from phi4mm_acceptance.deployment.profile import AccuracySpec, AisbenchDataset
from phi4mm_acceptance.deployment.secrets import scrub_file
from phi4mm_acceptance.deployment.settings import LaunchSettings, ToolSettings
from phi4mm_acceptance.toolrun import InContainer, output_tail, run_in_group

MODEL_CONFIG = "phi4mm_server"  # the --models name; AISBench looks it up in <config-dir>/models/
ABBR = "phi4mm"  # the model column and the folder name inside AISBench's output
_ERROR_LINE = re.compile(r"\bERROR\b|Error\b|Exception\b|Traceback")


class AisbenchError(RuntimeError):
    """The tool gave no usable score; the message says why, with the reason from its logs."""


@dataclass(frozen=True)
class AisbenchResult:
    dataset: str
    score: float  # points, 0..100, as AISBench reports accuracy
    samples: int  # answered + failed requests
    failed_requests: int
    failed_reasons: list[str] = field(default_factory=list)
    output_dir: Path | None = None


def model_config(base_url: str, model: str, batch_size: int, max_out_len: int, api_key: str | None,
                 stream: bool = False, tokenizer: str = "", request_rate: float = 0, ignore_eos: bool = False) -> str:
    """AISBench's VLLMCustomAPIChat model config (fields as in its vllm_api_general_chat.py). Its perf mode needs
    `tokenizer`, a local tokenizer folder (`path`), `batch_size` is the most requests in flight, `request_rate`
    0 sends them all at once (else requests per second)."""
    parts = urlsplit(base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    generation = "temperature=0, ignore_eos=True" if ignore_eos else "temperature=0"
    return (
        "from ais_bench.benchmark.models import VLLMCustomAPIChat\n\n"
        "models = [dict(\n"
        f"    attr='service', type=VLLMCustomAPIChat, abbr={ABBR!r}, path={tokenizer!r}, model={model!r},\n"
        f"    stream={stream}, request_rate={request_rate:g}, retry=2, api_key={api_key or ''!r},\n"
        f"    host_ip={parts.hostname!r}, host_port={port}, url='', max_out_len={max_out_len},\n"
        f"    batch_size={batch_size}, trust_remote_code=False,\n"
        f"    generation_kwargs=dict({generation}),\n"
        ")]\n"
    )


@dataclass(frozen=True)
class AisbenchPlacement:
    """Where ais_bench runs: on this host, or inside the serving container (`docker exec`, which then sees
    the scratch folder and the datasets through the container's shared mounts)."""

    tool: list[str]
    scratch_root: Path  # as this host sees it
    scratch_root_seen_by_tool: Path
    datasets_seen_by_tool: Path
    container: str | None = None

    def command(self, dataset_config: str, mode: str, scratch: Path, env: dict[str, str],
                extra: tuple[str, ...] = ()) -> list[str]:
        """The full command line for one dataset config in `mode` (all: accuracy, perf); `scratch` as the tool
        sees it."""
        args = ["--models", MODEL_CONFIG, "--datasets", dataset_config, "--config-dir", str(scratch / "configs"),
                "-w", str(scratch / "outputs"), "-m", mode, *extra]
        if self.container is None:
            return [*self.tool, *args]
        settings = [f"--env={key}={value}" for key, value in sorted(env.items())]
        return ["docker", "exec", f"--workdir={scratch}", *settings, self.container, *self.tool, *args]


def host_placement(tool: list[str], datasets_root: Path) -> AisbenchPlacement:
    scratch = Path(tempfile.gettempdir())
    return AisbenchPlacement(tool, scratch, scratch, datasets_root)


def container_placement(container: str, scratch_inside: Path, scratch_on_host: Path,
                        datasets_inside: Path) -> AisbenchPlacement:
    return AisbenchPlacement(["ais_bench"], scratch_on_host, scratch_inside, datasets_inside, container)


CONTAINER_SCRATCH = "/data/phi4mm-aisbench"  # under the serving container's shared /data mount


def find_placement(tools: ToolSettings, launch: LaunchSettings, endpoint: Endpoint) -> AisbenchPlacement | str:
    """--aisbench (or ais_bench on PATH) on this host; else, for the docker target, the serving container's
    own ais_bench; else the reason there is none (the test skips, or fails under release, with it)."""
    root = tools.aisbench_datasets
    if root is None:
        return "no AISBench datasets root: pass --aisbench-datasets DIR or set AIS_BENCH_DATASETS_CACHE"
    if tools.aisbench:
        return host_placement(tools.aisbench, root)
    container = endpoint.container_name
    if launch.target == "docker" and container and shutil.which("docker") and _has_aisbench(container):
        inside = seen_in_container(launch, root)
        if inside is None:
            return (f"ais_bench is in the serving container, but the datasets root {root} is not under a folder "
                    f"the container shares ({', '.join(launch.profile.container.shared_mounts)})")
        return container_placement(container, Path(CONTAINER_SCRATCH), on_host(launch, CONTAINER_SCRATCH), inside)
    return "no `ais_bench` command: pip install ais-bench-benchmark, or pass --aisbench CMD"


def seen_in_container(launch: LaunchSettings, host_path: Path) -> Path | None:
    """The path inside the serving container of a host path under one of its shared mounts, else None."""
    mounts = launch.profile.container.shared_mounts if launch.profile.container else ()
    resolved = host_path.resolve()
    for mount in mounts:
        if resolved.is_relative_to(on_host(launch, mount).resolve()):
            return Path(mount) / resolved.relative_to(on_host(launch, mount).resolve())
    return None


def _has_aisbench(container: str) -> bool:
    found = subprocess.run(["docker", "exec", container, "sh", "-c", "command -v ais_bench"],
                           capture_output=True, timeout=60, check=False)
    return found.returncode == 0


def tool_env(placement: AisbenchPlacement, base_url: str) -> dict[str, str]:
    """What AISBench needs in its environment: no curses board, the data root, no proxy for the server."""
    host = urlsplit(base_url).hostname or ""
    no_proxy = ",".join(filter(None, (os.environ.get("NO_PROXY"), host, "127.0.0.1", "localhost")))
    return {"TERM": "dumb", "AIS_BENCH_DATASETS_CACHE": str(placement.datasets_seen_by_tool),
            "NO_PROXY": no_proxy, "no_proxy": no_proxy}


@dataclass(frozen=True)
class AisbenchRun:
    """One ais_bench call: its name (the reports folder), dataset config, mode, extra arguments, and the config
    files it needs under --config-dir (relative path -> text; models/phi4mm_server.py always)."""

    name: str
    dataset_config: str
    mode: str
    configs: dict[str, str]
    timeout_s: float
    extra: tuple[str, ...] = ()
    hang_retries: int = 0  # runs once more when killed at its deadline (perf runs: minutes, not hours)


class AisbenchHang(UserWarning):
    """AISBench was killed at its deadline and is run once more: it is known to hang now and then, its worker
    processes forked beside threads (AISBench/benchmark#407 at warm-up, #205 and #387 in its summary)."""


def run_tool(placement: AisbenchPlacement, run: AisbenchRun, endpoint: Endpoint, out_dir: Path,
             heartbeat: Callable[[float], None] | None = None) -> None:
    """Run it in a scratch folder and copy its output to `out_dir`, scrubbed; raises AisbenchError when it did
    not finish (after its retries) or exited non-zero (exit 0 proves nothing: the caller reads the results)."""
    for retries_left in range(run.hang_retries, -1, -1):
        code = _run_once(placement, run, endpoint, out_dir, heartbeat)
        if code is not None or not retries_left:
            break
        warnings.warn(AisbenchHang(f"AISBench did not finish {run.name} in {run.timeout_s:.0f} s and was killed"
                                   f"{output_tail(out_dir / 'console.log')}; running it once more (AISBench "
                                   "hangs now and then: AISBench/benchmark#205, #407)"), stacklevel=2)
    console_copy = out_dir / "console.log"
    if code is None:
        raise AisbenchError(f"AISBench did not finish {run.name} in {run.timeout_s:.0f} s (killed)"
                            f"{output_tail(console_copy)}")
    if code != 0:
        raise AisbenchError(f"AISBench exited with code {code} on {run.name}{output_tail(console_copy)}")


def _run_once(placement: AisbenchPlacement, run: AisbenchRun, endpoint: Endpoint, out_dir: Path,
              heartbeat: Callable[[float], None] | None) -> int | None:
    """One ais_bench call in a fresh scratch folder, its output copied to `out_dir`: its exit code, None when
    it was killed at the deadline."""
    shutil.rmtree(out_dir, ignore_errors=True)
    placement.scratch_root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f"phi4mm-aisbench-{run.name}-", dir=placement.scratch_root))
    try:
        for relative, text in run.configs.items():
            (scratch / "configs" / relative).parent.mkdir(parents=True, exist_ok=True)
            (scratch / "configs" / relative).write_text(text)
        env = tool_env(placement, endpoint.base_url)
        command = placement.command(run.dataset_config, run.mode, placement.scratch_root_seen_by_tool / scratch.name,
                                    env, run.extra)
        local = placement.container is None
        code = run_in_group(command, scratch / "console.log", run.timeout_s,
                            env={**os.environ, **env} if local else None, cwd=scratch if local else None,
                            inside=InContainer(placement.container, "ais_bench") if placement.container else None,
                            heartbeat=heartbeat)
        copy_scrubbed(scratch, out_dir, [endpoint.api_key] if endpoint.api_key else [])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return code


def run_dataset(placement: AisbenchPlacement, dataset: AisbenchDataset, spec: AccuracySpec, endpoint: Endpoint,
                out_dir: Path, heartbeat: Callable[[float], None] | None = None) -> AisbenchResult:
    """One dataset, start to parsed result (its output in `out_dir`); raises AisbenchError when there is no
    trustworthy score."""
    config = model_config(endpoint.base_url, endpoint.model, spec.aisbench_batch_size, spec.aisbench_max_out_len,
                          endpoint.api_key,
                          spec.aisbench_stream)
    run = AisbenchRun(dataset.name, dataset.config, "all", {f"models/{MODEL_CONFIG}.py": config}, spec.aisbench_timeout_s)
    run_tool(placement, run, endpoint, out_dir, heartbeat)
    return parse_run(dataset.name, out_dir)


def copy_scrubbed(scratch: Path, out_dir: Path, secrets: list[str]) -> None:
    """The run's console log and output folder into reports/, with secrets replaced in every text file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if (scratch / "console.log").is_file():
        shutil.copy(scratch / "console.log", out_dir / "console.log")
    runs = sorted(p for p in (scratch / "outputs").glob("*") if p.is_dir())
    if runs:
        shutil.copytree(runs[-1], out_dir / "run")
    for path in out_dir.rglob("*"):
        if path.is_file() and path.suffix in (".log", ".out", ".py", ".json", ".jsonl", ".csv", ".md", ".txt"):
            scrub_file(path, tuple(secrets))


def parse_run(dataset: str, out_dir: Path) -> AisbenchResult:
    """Score from summary/summary_*.csv (the row for this dataset), sample and failure counts from its
    predictions; `-` cells are errors."""
    run = out_dir / "run"
    summaries = sorted(run.glob("summary/summary_*.csv"))
    if not summaries:
        raise AisbenchError(f"AISBench wrote no summary CSV for {dataset}: {log_reason(out_dir)}")
    with summaries[-1].open(newline="") as handle:
        rows = [row for row in csv.reader(handle) if len(row) >= 5]
    abbr, cell = summary_row(dataset, rows[1:], summaries[-1].name)
    match = re.match(r"^(\d+(?:\.\d+)?)", cell)
    if not match:
        raise AisbenchError(f"AISBench reported {cell!r} for {dataset} (no score): {log_reason(out_dir)}")
    predictions = [p for p in run.glob("predictions/*/*.jsonl") if re.fullmatch(rf"{re.escape(abbr)}(_\d+)?", p.stem)]
    failed_files = list(run.glob(f"predictions/*/{glob.escape(abbr)}_failed.jsonl"))
    reasons = sorted({_failed_reason(line) for p in failed_files for line in p.read_text().splitlines() if line})
    failed = sum(_lines(p) for p in failed_files)
    return AisbenchResult(dataset, float(match.group(1)), sum(_lines(p) for p in predictions) + failed, failed,
                          reasons, out_dir)


def summary_row(dataset: str, rows: list[list[str]], summary: str) -> tuple[str, str]:
    """The dataset abbreviation and score cell of this dataset's row: the row named like it (its accuracy
    metric first), or the only row when AISBench abbreviates the dataset under another name."""
    named = sorted((row for row in rows if row[0] == dataset), key=lambda row: row[2] != "accuracy")
    chosen = named or (rows if len(rows) == 1 else [])
    if not chosen:
        found = ", ".join(row[0] for row in rows) or "none"
        raise AisbenchError(f"AISBench's summary {summary} has no result row for {dataset} (rows: {found})")
    return chosen[0][0], chosen[0][-1].strip()


def log_reason(out_dir: Path) -> str:
    """The last error line AISBench logged (task logs first, then the console), without colour codes."""
    logs = sorted((out_dir / "run").glob("logs/*/*/*.out")) + [out_dir / "console.log"]
    for log in logs:
        if not log.is_file():
            continue
        lines = [strip_ansi(line).strip() for line in log.read_text(errors="replace").splitlines()]
        errors = [line for line in lines if _ERROR_LINE.search(line) and not line.startswith("File ")]
        if errors:
            return f"{errors[-1][:400]} (from {log.relative_to(out_dir)})"
    return "no error in its logs"


def _lines(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip())


def _failed_reason(line: str) -> str:
    found = re.search(r'"error_info":\s*"((?:[^"\\]|\\.)*)"', line)
    return found.group(1) if found else line[:200]
