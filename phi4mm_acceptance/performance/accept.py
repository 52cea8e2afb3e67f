"""phi4mm-accept-baseline: accept the baseline a deployment's later runs are judged against.

Either it runs the profile's performance tests several times on a healthy deployment (each run starts and stops
the server as a nightly does, so the spread holds the run-to-run noise a nightly sees), or it merges runs already
made (`--from`: Jenkins' last healthy nightlies' metrics.json). Every run must have passed; the baseline holds
each figure's median, spread and pooled samples, and its origin (date, host, profile, image, vLLM, vllm-ascend,
suite). An argparse command, not a pytest option: accepting is a decision about several runs, not one.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from phi4mm_acceptance import PROJECT_ROOT
from phi4mm_acceptance.performance.baseline import BaselineError, describe_origin, merge_runs, read_run

USAGE = """phi4mm-accept-baseline [--runs N] [--out FILE] -- PYTEST-OPTIONS
       phi4mm-accept-baseline --from METRICS.json [METRICS.json ...] [--out FILE]"""


def suite_command(reports: Path, options: list[str]) -> list[str]:
    """One performance run of the suite into its own reports folder, judged against no baseline (the one being
    accepted does not exist yet, and an older one must not veto its successor)."""
    return [sys.executable, "-m", "pytest", "-c", str(PROJECT_ROOT / "pytest.ini"), "--rootdir", str(PROJECT_ROOT),
            str(PROJECT_ROOT / "tests"), "-m", "performance", "--baseline=none", f"--reports-dir={reports}",
            *options]


def run_healthy(runs: int, folder: Path, options: list[str]) -> list[Path]:
    """Each run's metrics.json; stops at the first run that did not pass."""
    made = []
    for number in range(1, runs + 1):
        reports = folder / f"run-{number}"
        print(f"phi4mm-accept-baseline: run {number} of {runs} into {reports}", flush=True)
        code = subprocess.run(suite_command(reports, options), env={**os.environ, "PYTEST_ADDOPTS": ""}).returncode
        if code != 0:
            raise BaselineError(f"run {number} did not pass (pytest exit code {code}; {reports / 'report.md'} says "
                                "why): a baseline is accepted from healthy runs only")
        made.append(reports / "metrics.json")
    return made


def default_out(metrics: Path) -> Path:
    profile = json.loads(metrics.read_text())["run"]["profile"]
    return PROJECT_ROOT / "baselines" / f"{profile}.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="phi4mm-accept-baseline", usage=USAGE, description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="healthy runs to make and merge (default 3, at least 2)")
    parser.add_argument("--from", dest="sources", nargs="+", type=Path, metavar="METRICS",
                        help="merge these runs' metrics.json instead of making new runs")
    parser.add_argument("--out", type=Path, help="the baseline file (default: baselines/<profile>.json in the suite)")
    parser.add_argument("--work-dir", type=Path, default=Path("reports") / "baseline-runs",
                        help="where the runs' reports go (default reports/baseline-runs)")
    args, options = parser.parse_known_args(argv)
    options = [o for o in options if o != "--"]
    if args.sources and options:
        parser.error(f"--from merges runs already made; these are options for new runs: {' '.join(options)}")
    if not args.sources and args.runs < 2:
        parser.error("--runs must be at least 2: one run measures no spread")
    try:
        sources = args.sources or run_healthy(args.runs, args.work_dir, options)
        runs = [read_run(path) for path in sources]
        origin = {"accepted_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": socket.gethostname()}
        baseline = merge_runs(runs, origin)
    except BaselineError as exc:
        print(f"phi4mm-accept-baseline: {exc}; no baseline written", file=sys.stderr)
        return 1
    if len(runs) == 1:
        print("phi4mm-accept-baseline: warning: one run measures no spread: its figures are judged with the "
              "profile's noise floors only", file=sys.stderr)
    out = args.out or default_out(sources[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(baseline, indent=1) + "\n")
    print(f"phi4mm-accept-baseline: wrote {out}: {len(baseline['tests'])} tests, {describe_origin(baseline)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
