"""Whether a LoRA adapter named in a request is applied (vllm#16424): it moves the log-probabilities past the
noise, and the image canary through it reaches the profile's threshold."""
from __future__ import annotations

from phi4mm_acceptance.accuracy.canary import CanaryAnswer, share_right

LOGPROB_NOISE_FLOOR = 0.05  # nats: an adapter must move a log-probability further than this, and than 4x the noise


def adapter_effect_problem(adapter: str, change: float, noise: float) -> str | None:
    """The adapter's `change` of the base model's log-probabilities must exceed the floor and 4x the `noise`
    between two identical base runs (checks.logprob_change)."""
    if change > max(LOGPROB_NOISE_FLOOR, 4 * noise):
        return None
    return (f"through the adapter {adapter!r} the log-probabilities of the same prompt move at most {change:.4f} "
            f"nats from the base model's (two base runs differ by {noise:.4f}): listed in /v1/models but not "
            "applied? (vllm#16424)")


def adapter_canary_problem(adapter: str, answers: list[CanaryAnswer], minimum: float) -> str | None:
    """The share of canary answers through the adapter that are right must reach `minimum`."""
    share = share_right(answers)
    if share >= minimum:
        return None
    return (f"through the adapter {adapter!r} the image canary gets {share:.0%} right, under the profile's "
            f"{minimum:.0%}: wrong: {'; '.join(a.describe() for a in answers if not a.correct)[:400]}")
