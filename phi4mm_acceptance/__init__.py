"""phi4mm-acceptance: the library behind the acceptance suite (no pytest imports here).

One folder a concern, as the suite gives its verdicts: deployment/ brings the server up (profiles and
settings, launchers, pre-flight, weights, readiness, logs, secrets, telemetry), protocol/ holds what vLLM
promises (client, API shapes, contract, reply checks, test media), accuracy/ judges answers (AISBench, canary,
scoring, gates), performance/ measures (load generator, metrics, vllm bench, budgets, comparison), report/
writes what a run says of itself. verdicts (the kinds of failure) and toolrun (guarded tool runs) serve all.
"""
from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent  # profiles/, contract/, images/, simulator/ live here
