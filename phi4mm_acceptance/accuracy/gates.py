"""Accuracy gates for a benchmark score: vllm-ascend's band and a floor on the Wilson lower bound.

The band (`baseline - band <= score <= baseline + band`, points) is what vllm-ascend's AISBench harness
checks. Its upper edge gates only a baseline from an accepted AISBench run of the same config
(`baseline_accepted`): a published figure is measured another way (GSM8K's 88.6 is 8-shot, our config is
0-shot CoT), so a model scoring above it is no defect; until then only the lower edge gates. The floor is one-sided and judged on the 95% Wilson score interval's lower bound at the run's sample
count, so a subset of a few dozen samples cannot pass by luck; every message says the bound and n.
"""
from __future__ import annotations

import math

from phi4mm_acceptance.deployment.profile import AisbenchDataset

Z_95 = 1.959964


def wilson_lower_bound(share: float, n: int, z: float = Z_95) -> float:
    """Lower end of the Wilson score interval for a proportion `share` (0..1) observed over n samples."""
    if n <= 0:
        return 0.0
    denominator = 1 + z * z / n
    centre = share + z * z / (2 * n)
    spread = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    return max(0.0, (centre - spread) / denominator)


def gate_failures(dataset: AisbenchDataset, score: float, n: int) -> list[str]:
    """Why the score (points, 0..100) over n samples fails the dataset's gates; empty when it passes."""
    failures = []
    if dataset.baseline is not None and dataset.band is not None:
        low, high = dataset.baseline - dataset.band, dataset.baseline + dataset.band
        if score < low or (dataset.baseline_accepted and score > high):
            edges = f"[{low:.2f}, {high:.2f}]" if dataset.baseline_accepted else (
                f"[{low:.2f}, -] (only the lower edge gates: the baseline is not from an accepted AISBench run "
                "of this config)")
            failures.append(f"{dataset.name}: score {score:.2f} (n={n}) is outside the band {dataset.baseline:g} "
                            f"+- {dataset.band:g} = {edges} ({dataset.origin})")
    if dataset.floor is not None:
        bound = 100 * wilson_lower_bound(score / 100, n)
        if bound < dataset.floor:
            failures.append(f"{dataset.name}: 95% Wilson lower bound {bound:.2f} of score {score:.2f} at n={n} is "
                            f"below the floor {dataset.floor:g} ({dataset.origin})")
    return failures
