"""The samples behind a run's latency figures (every TTFT, ITL, TPOT, E2EL of a load; every round of a
latency benchmark), so a later run can compare distributions, not single numbers. Each test's go to
reports/samples/ while it runs (one file per test, written by the process that ran it, xdist workers too), and
into metrics.json at the end, the one file Jenkins archives and copies.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

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


def samples_of_run(metrics: dict[str, Any], path: Path, own_reports: Path) -> dict[str, dict[str, list[float]]]:
    """A previous run's samples: inside its metrics.json, or (a run before they were) in the samples/ folder
    beside it, unless that folder is this run's own reports folder, which this run has cleared."""
    inside = {test: entry["samples"] for test, entry in metrics.get("tests", {}).items()
              if isinstance(entry, dict) and isinstance(entry.get("samples"), dict)}
    if inside or path.resolve().parent == own_reports.resolve():
        return inside
    return read_samples(path.parent)
