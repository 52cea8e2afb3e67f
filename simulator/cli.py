"""`vllm serve` as the simulator: the same command line, start-up lines, exit codes and shutdown.

Options the real CLI has but the simulator does not need are accepted and ignored; an unknown option
is an argparse error (exit 2), as with vLLM. The simulator only serves: with SIM_VLLM_CLIENT naming a real
vLLM's `vllm`, other subcommands (`vllm bench serve`) run that, as they would in a vllm-ascend image.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import traceback
from http.server import ThreadingHTTPServer
from pathlib import Path

from simulator.chat import ServingLimits
from simulator.claimed import ClaimedVersion
from simulator.environment import describe_environment
from simulator.errors import StartupCrash
from simulator.faults import Fault, Faults
from simulator.log import log, vllm_log
from simulator.media import MediaCaps
from simulator.mm_cache import ProcessorCache
from simulator.model import FakeModel, ModelNotFound
from simulator.server import ROUTES, SimState, TraceLog, bind
from simulator.timing import TimingModel

UVICORN_LINES = (
    "INFO:     Started server process [{pid}]",
    "INFO:     Waiting for application startup.",
    "INFO:     Application startup complete.",
)


def build_parser(version: str = ClaimedVersion().text) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vllm", description="vLLM CLI (simulator)")
    parser.add_argument("-v", "--version", action="version", version=version)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="Start the OpenAI-compatible API server.")
    serve.add_argument("model")
    serve.add_argument("--host", default="0.0.0.0")  # noqa: S104 - vLLM's default
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--served-model-name", nargs="+")
    serve.add_argument("--trust-remote-code", action="store_true")
    serve.add_argument("--max-model-len", type=int)
    serve.add_argument("--limit-mm-per-prompt", type=json.loads, default={})
    serve.add_argument("--enable-lora", action="store_true")
    serve.add_argument("--max-lora-rank", type=int, default=16)
    serve.add_argument("--max-loras", type=int, default=1)
    serve.add_argument("--lora-modules", nargs="+", default=[])
    serve.add_argument("--default-mm-loras", type=json.loads)
    serve.add_argument("--tensor-parallel-size", "-tp", type=int, default=1)
    serve.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    serve.add_argument("--dtype", default="auto")
    serve.add_argument("--enforce-eager", action="store_true")
    serve.add_argument("--allowed-local-media-path", default="")
    serve.add_argument("--max-num-seqs", type=int, default=256)
    serve.add_argument("--mm-processor-cache-gb", type=float, default=4)
    serve.add_argument("--max-logprobs", type=int, default=20)
    serve.add_argument("--api-key", default=os.environ.get("VLLM_API_KEY"))
    return parser


def parse_lora_modules(values: list[str]) -> dict[str, str]:
    modules: dict[str, str] = {}
    for value in values:
        if value.startswith("{"):
            spec = json.loads(value)
            modules[spec["name"]] = spec["path"]
        else:
            name, sep, path = value.partition("=")
            if not sep:
                raise SystemExit(f"vllm serve: error: invalid --lora-modules value {value!r}: expected name=path")
            modules[name] = path
    return modules


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    client = os.environ.get("SIM_VLLM_CLIENT")
    if client and argv[:1] not in (["serve"], ["-v"], ["--version"]):
        os.execv(client, [client, *argv])
    try:
        claimed = ClaimedVersion.from_env()
    except ValueError as exc:
        log(f"vllm: error: {exc}")
        return 2
    args = build_parser(claimed.text).parse_args(argv)
    faults, timing = Faults.from_env(), TimingModel.from_env()
    try:
        model = FakeModel.load(args.model)
    except ModelNotFound as exc:
        log("Traceback (most recent call last):")
        log('  File "/vllm-workspace/vllm/vllm/transformers_utils/config.py", line 412, in get_config')
        log(f"OSError: {exc}")
        return 1
    loras = parse_lora_modules(args.lora_modules) if args.enable_lora else {}
    missing = [path for path in loras.values() if not (Path(path) / "adapter_config.json").is_file()]
    if missing:
        log("Traceback (most recent call last):")
        log('  File "/vllm-workspace/vllm/vllm/lora/worker_manager.py", line 104, in _load_adapter')
        log(f"ValueError: Loading lora {missing[0]} failed: No adapter found for {missing[0]}")
        return 1
    limits = faults.apply(Fault.configure, ServingLimits(
        served_names=tuple(args.served_model_name or [args.model]),
        max_model_len=args.max_model_len or 131072,
        mm_limits={"image": 999, "audio": 999, **args.limit_mm_per_prompt},  # vLLM's default limit
        loras={**loras, **((args.default_mm_loras or {}) if args.enable_lora else {})},
        claimed=claimed,
        mm_cache=ProcessorCache(args.mm_processor_cache_gb),
        media_caps=MediaCaps.from_env(),
        max_logprobs=args.max_logprobs,
    ))
    trace = TraceLog(os.environ["SIM_TRACE_FILE"]) if os.environ.get("SIM_TRACE_FILE") else None
    state = SimState(model=model, limits=limits, timing=timing, faults=faults, trace=trace, api_key=args.api_key,
                     keep_alive_s=float(os.environ.get("VLLM_HTTP_TIMEOUT_KEEP_ALIVE", "5")))

    vllm_log("INFO", "api_server.py:1896", f"vLLM API server version {claimed.text}")
    vllm_log("INFO", "utils.py:328", f"non-default args: {_non_default_args(args)}")
    vllm_log("INFO", "simulator", f"environment: {json.dumps(describe_environment(), sort_keys=True)}")
    if faults.active():
        vllm_log("WARNING", "simulator", f"simulated faults active: {', '.join(faults.active())}")
    try:
        server = bind(args.host, args.port, state)
    except OSError:
        traceback.print_exc(file=sys.stdout)
        return 1
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    vllm_log("INFO", "config.py:717", f"Resolved architecture: {model.architecture}")
    vllm_log("INFO", "weight_utils.py:94", f"Using model weights in {model.path}")
    vllm_log("INFO", "config.py:1604", f"Using max model len {limits.max_model_len}")
    try:
        faults.notify(Fault.loading, stop)
    except StartupCrash:
        return 1
    if stop.wait(timing.load_delay_s):
        return _shut_down(server)
    vllm_log("INFO", "default_loader.py:267", f"Loading weights took {timing.load_delay_s:.2f} seconds")
    vllm_log("INFO", "api_server.py:1692", f"Starting vLLM API server 0 on http://{args.host}:{args.port}")
    vllm_log("INFO", "launcher.py:29", "Available routes are:")
    for route, method in ROUTES:
        vllm_log("INFO", "launcher.py:37", f"Route: {route}, Methods: {method}")
    for line in faults.apply(Fault.uvicorn_lines, list(UVICORN_LINES)):
        log(line.format(pid=os.getpid()))
    state.ready = True
    stop.wait()
    return _shut_down(server)


def _non_default_args(args: argparse.Namespace) -> dict[str, object]:
    defaults = vars(build_parser().parse_args(["serve", args.model]))
    return {k: v for k, v in vars(args).items() if v != defaults.get(k) and k != "model"}


def _shut_down(server: ThreadingHTTPServer) -> int:
    log("INFO:     Shutting down")
    server.shutdown()
    log(f"INFO:     Finished server process [{os.getpid()}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
