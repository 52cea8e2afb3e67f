"""How a request or the server fails: vLLM's error answers and the crashes that end the process."""
from __future__ import annotations

from typing import Any

from simulator.claimed import ClaimedVersion


class ApiError(Exception):
    """Answered as vLLM's error body: {"error": {"message", "type", "param", "code"}}."""

    def __init__(self, status: int, message: str, param: str | None = None, raised: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.raised = raised  # raised out of vLLM's chat handler (a media fetch), not returned by it

    def type(self, claimed: ClaimedVersion) -> str:
        named = {400: "BadRequestError", 404: "NotFoundError", 422: "UnprocessableEntityError", 501: "NotImplementedError"}
        return named.get(self.status, claimed.internal_error_type)

    def body(self, claimed: ClaimedVersion) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type(claimed), "param": self.param,
                          "code": self.status}}


class EngineCrash(RuntimeError):
    """The engine dies with this request: the server logs it and exits, as vLLM's process does."""


class StartupCrash(RuntimeError):
    """The server dies while it loads the model, its traceback already logged: `vllm serve` exits 1."""
