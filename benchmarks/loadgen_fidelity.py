"""How close the suite's load generator gets to the truth, beside the real `vllm bench serve`.

The simulator is started with exact timing (TTFT 50 ms, 10 ms per token, 32 tokens, no slowdown), so the
true TTFT/TPOT/ITL are known; each tool's measurement error is printed at p50 and p99 for three loads:
10 req/s Poisson, 32 concurrent, and all 50 at once. The simulator also logs, per x-request-id, when it
received each request and wrote its first token (SIM_TRACE_FILE), which splits each tool's TTFT error into
the server's own delay (request parsing under load) and what the client adds. Then the highest Poisson rate
the generator sustains on this machine without skew (requests sent late) or adding over 1 ms to TTFT.

    python benchmarks/loadgen_fidelity.py [--vllm-bench /path/to/venv/bin/vllm]

Figures, not a test: run it on a quiet machine.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from phi4mm_acceptance.deployment.endpoint import Endpoint  # noqa: E402
from phi4mm_acceptance.deployment.launch.ports import free_port  # noqa: E402
from phi4mm_acceptance.deployment.launch.process import stop_process_group  # noqa: E402
from phi4mm_acceptance.performance.loadgen import LoadShape, run_load  # noqa: E402
from phi4mm_acceptance.performance.metrics import percentile  # noqa: E402
from phi4mm_acceptance.performance.vllm_bench import BenchRun, bench_command, run_vllm_bench  # noqa: E402
from phi4mm_acceptance.protocol.client import probe_health  # noqa: E402

TTFT_MS, TPOT_MS, OUTPUT, INPUT = 50.0, 10.0, 32, 128
LOADS = {"10 req/s Poisson": (10.0, None), "32 concurrent": (float("inf"), 32), "50 at once": (float("inf"), None)}
SIM_MODEL_DIR = REPO / "simulator" / "fake_model"
EXACT_WRITE_MS = 0.05


def start_simulator(port: int, trace: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SIM_TRACE_FILE": str(trace), "SIM_LOAD_DELAY_S": "0.2", "SIM_TTFT_MS": str(TTFT_MS), "SIM_TPOT_MS": str(TPOT_MS),
           "SIM_TTFT_PER_PROMPT_TOKEN_MS": "0", "SIM_CONCURRENCY_SLOWDOWN": "0"}
    process = subprocess.Popen([sys.executable, str(REPO / "simulator" / "bin" / "vllm"), "serve", "sim",
                                "--host", "127.0.0.1", "--port", str(port), "--max-model-len", "4096"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    while probe_health(f"http://127.0.0.1:{port}") != 200:
        time.sleep(0.1)
    return process


def errors(results: dict) -> str:
    return (f"TTFT p50 {results['p50_ttft_ms'] - TTFT_MS:+7.2f} p99 {results['p99_ttft_ms'] - TTFT_MS:+7.2f} | "
            f"TPOT p50 {results['p50_tpot_ms'] - TPOT_MS:+6.3f} p99 {results['p99_tpot_ms'] - TPOT_MS:+6.3f} | "
            f"ITL p50 {results['p50_itl_ms'] - TPOT_MS:+6.2f} p99 {results['p99_itl_ms'] - TPOT_MS:+6.2f} ms")


def server_trace(trace: Path, prefix: str) -> dict[str, dict]:
    rows = [json.loads(line) for line in trace.read_text().splitlines()]
    return {r["id"]: r for r in rows if str(r["id"]).startswith(prefix)}


def client_added_ms(client_ttft_ms: dict[str, float], server: dict[str, dict]) -> tuple[list[float], list[float]]:
    """Per matched request id: the server's own TTFT error, and what the client's measurement adds to it."""
    ids = [i for i in client_ttft_ms if i in server]
    server_ms = {i: (server[i]["first_token"] - server[i]["received"]) * 1000 for i in ids}
    return [server_ms[i] - TTFT_MS for i in ids], [client_ttft_ms[i] - server_ms[i] for i in ids]


def split(client_ttft_ms: dict[str, float], server: dict[str, dict]) -> str:
    """TTFT error split into the server's own delay and what the client adds, by request id."""
    own, added = client_added_ms(client_ttft_ms, server)
    return (f"of which server p50 {percentile(own, 50):+6.2f} p99 {percentile(own, 99):+6.2f}, "
            f"client-added p50 {percentile(added, 50):+6.2f} p99 {percentile(added, 99):+6.2f} ms "
            f"({len(added)} requests matched)")


def written(server_row: dict) -> list[float]:
    """When each token's write returned: its bytes had reached the client's socket by then."""
    return [end for _, end in server_row.get("tokens", [])]


def delivery(records: list, started_at: float, server: dict[str, dict], prefix: str) -> str:
    """From the server's write of a token to the client's timestamp of it (both wall clocks on this host):
    what the client's read path adds, without the server's own queueing before it reads a request."""
    first, every = [], []
    for i, record in enumerate(records):
        sent = written(server.get(f"{prefix}{i}", {}))
        if record.success and len(sent) == len(record.chunk_times_s):
            arrived = [started_at + t for t in record.chunk_times_s]
            first.append((arrived[0] - sent[0]) * 1000)
            every += [(a - s) * 1000 for a, s in zip(arrived, sent)]
    if not first:
        return "delivery: no request matched"
    return (f"delivery (server write -> client timestamp) first token p50 {percentile(first, 50):.2f} "
            f"p99 {percentile(first, 99):.2f}, every token p50 {percentile(every, 50):.2f} "
            f"p99 {percentile(every, 99):.2f} ms")


def itl_split(client_itls_ms: dict[str, list[float]], server: dict[str, dict]) -> str:
    """Each measured inter-token gap minus the gap the server really left between the same two tokens, for
    the gaps whose two writes each took under EXACT_WRITE_MS (a server thread descheduled inside a write
    leaves its token's time uncertain by that long); and each request's measured TPOT minus its true one."""
    added, every, tpot_added = [], [], []
    for i, gaps in client_itls_ms.items():
        tokens = server.get(i, {}).get("tokens", [])
        if len(tokens) != len(gaps) + 1 or not gaps:
            continue
        sent = written(server[i])
        truth = [(b - a) * 1000 for a, b in zip(sent, sent[1:])]
        exact = [(end - start) * 1000 < EXACT_WRITE_MS for start, end in tokens]
        every += [g - t for g, t in zip(gaps, truth)]
        added += [g - t for g, t, a, b in zip(gaps, truth, exact, exact[1:]) if a and b]
        tpot_added.append((sum(gaps) - sum(truth)) / len(gaps))
    if not added:
        return "ITL: no request matched"
    return (f"client-added ITL p50 {percentile(added, 50):+6.3f} p99 {percentile(added, 99):+6.3f} "
            f"({len(added)} of {len(every)} gaps exact; all gaps p99 {percentile(every, 99):+6.3f}), "
            f"TPOT p50 {percentile(tpot_added, 50):+6.3f} "
            f"p99 {percentile(tpot_added, 99):+6.3f} ms ({len(tpot_added)} requests)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vllm-bench", help="the vllm command of an installed vLLM, to compare with")
    args = parser.parse_args()
    port = free_port("127.0.0.1")
    endpoint = Endpoint.at(f"http://127.0.0.1:{port}", "sim")
    scratch = Path(tempfile.mkdtemp(prefix="phi4mm-fidelity-"))
    trace = scratch / "trace.jsonl"
    simulator = start_simulator(port, trace)
    try:
        print(f"truth: TTFT {TTFT_MS} ms, TPOT = ITL {TPOT_MS} ms, {OUTPUT} tokens; errors are measured - truth")
        for number, (name, (rate, concurrency)) in enumerate(LOADS.items()):
            prefix = f"lg{number}-"
            shape = LoadShape(50, INPUT, OUTPUT, request_rate=rate, max_concurrency=concurrency, seed=1,
                              request_id_prefix=prefix)
            results, records = run_load(endpoint, shape)
            print(f"{name:18} loadgen     {errors(results)}")
            client = {f"{prefix}{i}": r.ttft_s * 1000 for i, r in enumerate(records) if r.success}
            server = server_trace(trace, prefix)
            print(f"{'':18}             {split(client, server)}")
            itls = {f"{prefix}{i}": [g * 1000 for g in r.itls_s] for i, r in enumerate(records) if r.success}
            print(f"{'':18}             {itl_split(itls, server)}")
            print(f"{'':18}             {delivery(records, results['started_at_unix'], server, prefix)}")
            if args.vllm_bench:
                out = scratch / f"bench{number}"
                command = bench_command(args.vllm_bench.split(), endpoint, str(SIM_MODEL_DIR),
                                        BenchRun(50, rate, INPUT, OUTPUT, concurrency), out)
                command += ["--save-detailed", "--request-id-prefix", f"vb{number}-"]
                bench = run_vllm_bench(command, endpoint, out, 300, scratch / f"bench{number}.log")
                print(f"{'':18} vllm bench  {errors(bench)}")
                client = {f"vb{number}-{i}": t * 1000 for i, t in enumerate(bench.get("ttfts", []))}
                server = server_trace(trace, f"vb{number}-")
                print(f"{'':18}             {split(client, server)}")
                itls = {f"vb{number}-{i}": [g * 1000 for g in gaps] for i, gaps in enumerate(bench.get("itls", []))}
                print(f"{'':18}             {itl_split(itls, server)}")
        print("highest Poisson rate without skew (p99 send delay < 2 ms) and client-added TTFT p99 < 1 ms:")
        sustained = None
        for rate in (10, 20, 50, 100, 200, 400):
            prefix = f"rate{rate}-"
            shape = LoadShape(max(50, rate * 3), INPUT, OUTPUT, request_rate=float(rate), seed=2,
                              request_id_prefix=prefix)
            results, records = run_load(endpoint, shape)
            skew = percentile([(r.sent_s - r.scheduled_s) * 1000 for r in records], 99)
            own, added = client_added_ms({f"{prefix}{i}": r.ttft_s * 1000 for i, r in enumerate(records)
                                          if r.success}, server_trace(trace, prefix))
            ok = skew < 2 and percentile(added, 99) < 1 and results["failed"] == 0
            print(f"  {rate:4} req/s: p99 send delay {skew:6.2f} ms, TTFT p99 error {results['p99_ttft_ms'] - TTFT_MS:+7.2f}"
                  f" ms (server {percentile(own, 99):+7.2f}, client-added {percentile(added, 99):+5.2f}), "
                  f"{results['failed']} failed {'ok' if ok else 'SKEWED'}")
            if not ok:
                break
            sustained = rate
        print(f"sustained: {sustained} req/s")
    finally:
        stop_process_group(simulator.pid, 5, simulator)
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
