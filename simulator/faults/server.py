"""Faults of the server around a chat request: its lifecycle, its errors and the fields of its replies."""
from __future__ import annotations

import os
import threading
from typing import Any

from simulator.errors import ApiError
from simulator.faults.base import Fault
from simulator.log import vllm_log


class Http500Every(Fault):
    """N: every N-th chat request is answered 500 with an error body"""
    name, category = "http500_every", "chat"
    value_type = int

    def received(self, number: int) -> None:
        if number % self.value == 0:
            raise ApiError(500, "EngineCore encountered an issue while processing the request (simulated fault).")


class EngineStallAfter(Fault):
    """N: after N chat requests the engine hangs: chat never answers, /health, /version and /v1/models still answer
    200 (vllm#39863)"""
    name, category = "engine_stall_after", "vLLM bug history"
    value_type = int

    def planned(self, number: int) -> None:
        if number > self.value:
            threading.Event().wait()  # the engine hangs; the API server's probes keep answering


class DieAfter(Fault):
    """N: the process exits after answering N chat requests"""
    name, category = "die_after", "server"
    value_type = int

    def answered(self, number: int) -> None:
        if number >= self.value:
            vllm_log("ERROR", "core.py:712", f"EngineCore encountered a fatal error (simulated fault: {self.name}).")
            os._exit(1)


class BadRequestAs500(Fault):
    """invalid requests are answered 500 instead of 400"""
    name, category = "bad_request_as_500", "robustness"

    def error(self, error: ApiError) -> ApiError:
        if error.status != 400:
            return error
        return ApiError(500, f"Internal error while processing request: {error.message}")


class ErrorBodyWithHttp200(Fault):
    """errors raised in the chat handler (a media URL that fails) are answered with HTTP 200 and the error body, as
    vLLM 0.15.0-0.16.0 do"""
    name, category = "error_body_with_http_200", "vLLM bug history"

    def error_status(self, status: int, error: ApiError) -> int:
        return 200 if error.raised else status


class WrongMaxModelLen(Fault):
    """N: /v1/models reports max_model_len N instead of the real limit"""
    name, category = "wrong_max_model_len", "startup"
    value_type = int

    def listed_max_model_len(self, max_model_len: int) -> int:
        return self.value


class BadUsage(Fault):
    """usage.total_tokens is off by one"""
    name, category = "bad_usage", "chat"

    def usage(self, usage: dict[str, Any]) -> dict[str, Any]:
        return {**usage, "total_tokens": usage["total_tokens"] + 1}


class OmitNullFields(Fault):
    """replies leave out their null fields (message.refusal, choices[0].logprobs): keys the OpenAI schema requires
    go missing"""
    name, category = "omit_null_fields", "chat"

    def completion(self, reply: dict[str, Any]) -> dict[str, Any]:
        """Serialised without its None fields: the message's, and a choice's logprobs."""
        choices = [{**{key: value for key, value in choice.items() if key != "logprobs" or value is not None},
                    "message": {key: value for key, value in choice["message"].items() if value is not None}}
                   for choice in reply["choices"]]
        return {**reply, "choices": choices}
