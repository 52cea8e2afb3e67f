"""The kinds of failure a release engineer must tell apart at a glance: the serving is broken (a status, a
schema, a stream, a limit vLLM promises), the server served well and the answer's content is wrong (the
model, its weights or adapters), or, at release sign-off, a gate did not run (a tool, a baseline, a budget
missing). Content checks raise WrongAnswer; a gate not run is a skip turned failure (fixtures/selection.py).
"""
from __future__ import annotations

SERVING_BROKEN = "serving broken"
ANSWERS_WRONG = "answers wrong"
GATE_NOT_RUN = "gate not run"


class WrongAnswer(AssertionError):
    """A well-formed reply whose content is wrong: the request was served, the answer is not right."""


def failure_kind(exception: BaseException | None) -> str:
    return ANSWERS_WRONG if isinstance(exception, WrongAnswer) else SERVING_BROKEN
