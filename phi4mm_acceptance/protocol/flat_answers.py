"""Telling answers that went to the wrong input (a cache collision, crosstalk) from a model that answers every
prompt alike (dummy or random weights with flat logits): that model cannot be judged by such checks."""
from __future__ import annotations

import uuid

from phi4mm_acceptance.protocol.checks import greedy_answer, leading_half_shared
from phi4mm_acceptance.protocol.client import ChatClient
from phi4mm_acceptance.protocol.media import Manifest
from phi4mm_acceptance.verdicts import WrongAnswer


def alike_problem(one: str, other: str) -> str | None:
    """Answers to two different prompts that share their leading half: the model answers everything alike."""
    if leading_half_shared(one, other):
        return f"also answers two different text prompts alike ({one[:60]!r}, {other[:60]!r})"
    return None


def answers_every_prompt_alike(client: ChatClient, manifest: Manifest, max_tokens: int) -> str | None:
    """Two different text prompts of the manifest, each computed afresh (a cache_salt): alike_problem."""
    prompts = [manifest.text_prompts[0]["question"], manifest.arithmetic[0]["question"]]
    one, other = (greedy_answer(client, [{"role": "user", "content": prompt}], max_tokens,
                                cache_salt=uuid.uuid4().hex) for prompt in prompts)
    return alike_problem(one, other)


def mixup_failure(found: str, alike: str | None, mixup: str, sense: str, defect: str) -> WrongAnswer:
    """The failure for answers given to the wrong input: the serving stack's `defect`, unless the model answers
    every prompt alike (`alike`), when the `mixup` cannot be told from a model that does not `sense` its input."""
    if alike:
        return WrongAnswer(f"{found}; but the model {alike}, so {mixup} cannot be told from a model that does not "
                           f"{sense} its input")
    return WrongAnswer(found, defect)
