"""The kinds of failure a release engineer must tell apart at a glance: the deployment could not be set up on
this machine (a port taken, an address nobody answers at, Docker down, weights missing: reported once, every
test that needs the server not run), the serving is broken (a status, a schema, a stream, a limit vLLM
promises, a server that fails to start), the server served well and the answer's content is wrong, the
server served right but too slowly (a latency, throughput or failed-request budget missed), or, at release
sign-off, a gate did not run (a tool, a baseline, a budget missing). Content checks raise WrongAnswer, budget
checks TooSlow; a gate not run is a skip turned failure (fixtures/run.py).

A wrong answer says where to look: the model, its weights or adapters by default, or the serving stack when
the check is one that a good model passes and a vLLM bug fails (images out of order, RoPE past 4k, a LoRA not
applied, crosstalk between requests, a cache handing one request another's answer).
"""
from __future__ import annotations

SETUP_PROBLEM = "setup problem"
SERVING_BROKEN = "serving broken"
ANSWERS_WRONG = "answers wrong"
TOO_SLOW = "too slow"
GATE_NOT_RUN = "gate not run"
KINDS = (SETUP_PROBLEM, SERVING_BROKEN, ANSWERS_WRONG, TOO_SLOW, GATE_NOT_RUN)
CUT_SHORT = "interrupted"  # no failure of the deployment: the run was stopped while this test ran
NOT_REACHED = "not reached"  # the run was stopped before this test

MODEL_CAUSE = "model, weights or adapters"
STACK_CAUSE = "the serving stack"


class WrongAnswer(AssertionError):
    """A well-formed reply whose content is wrong: the request was served, the answer is not right.
    `stack_defect` names the vLLM defect this check catches when the wrong content points at the serving
    stack rather than the model (e.g. "images taken out of order"); None: the model, weights or adapters."""

    def __init__(self, message: str, stack_defect: str | None = None) -> None:
        super().__init__(message)
        self.stack_defect = stack_defect

    @property
    def likely_cause(self) -> str:
        return f"{STACK_CAUSE}: {self.stack_defect}" if self.stack_defect else MODEL_CAUSE


class TooSlow(AssertionError):
    """Served right, but a performance budget was missed; the message names each metric, what was measured,
    the budget and where the budget comes from."""


def failure_kind(exception: BaseException | None) -> str:
    if isinstance(exception, WrongAnswer):
        return ANSWERS_WRONG
    if isinstance(exception, TooSlow):
        return TOO_SLOW
    return SERVING_BROKEN


def likely_cause(exception: BaseException | None) -> str | None:
    """Where a wrong answer points (the model, or the serving stack and which defect); None for other kinds."""
    return exception.likely_cause if isinstance(exception, WrongAnswer) else None
