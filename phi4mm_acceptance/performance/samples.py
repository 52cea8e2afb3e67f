"""The samples behind a run's latency figures (every TTFT, ITL, TPOT, E2EL of a load; every round of a
latency benchmark), kept in reports/samples/ next to metrics.json so a later run can compare distributions,
not single numbers. One file per test, written by the process that ran it (xdist workers too).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

SAMPLES_DIR = "samples"


def _file(reports: Path, test: str) -> Path:
    return reports / SAMPLES_DIR / (re.sub(r"[^A-Za-z0-9_.-]+", "_", test).strip("_") + ".json")


def write_samples(reports: Path, test: str, samples: dict[str, list[float]]) -> None:
    """samples: metric (`ttft_ms`, `latency_ms`, ...) -> values, added to what the test recorded before."""
    path = _file(reports, test)
    path.parent.mkdir(parents=True, exist_ok=True)
    kept = json.loads(path.read_text())["samples"] if path.exists() else {}
    kept |= {metric: [round(v, 4) for v in values] for metric, values in samples.items()}
    path.write_text(json.dumps({"test": test, "samples": kept}) + "\n")


def read_samples(reports: Path) -> dict[str, dict[str, list[float]]]:
    """test id -> metric -> values; empty for a run that kept none (an older run, or none measured)."""
    found = {}
    for path in sorted((reports / SAMPLES_DIR).glob("*.json")):
        data = json.loads(path.read_text())
        found[data["test"]] = data["samples"]
    return found
