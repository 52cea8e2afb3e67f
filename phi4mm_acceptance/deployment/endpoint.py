"""The server under test as every caller needs it: where it answers, the name it serves, the key it wants,
how long a request may take and which vLLM it runs. Modelled on vLLM's own test server (tests/utils.py
RemoteOpenAIServer: get_client): a caller asks it for a client instead of rebuilding one from loose pieces.
"""
from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path

from phi4mm_acceptance.deployment.launch.base import Server
from phi4mm_acceptance.protocol.client import ChatClient, ServerUnreachable
from phi4mm_acceptance.protocol.vllm_api import lora_names_listed


@dataclass(frozen=True)
class Endpoint:
    server: Server
    api_key: str | None = field(default=None, repr=False)  # never in a repr, a log or a report
    request_timeout_s: float = 300.0
    token_gap_s: float | None = None  # the longest pause a stream may make between tokens
    version: str | None = None  # what GET /version said: which of vLLM's promises apply
    lora_names: frozenset[str] = frozenset()  # the adapters /v1/models lists

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def model(self) -> str:
        """The name requests give in `model` for the base model."""
        return self.server.served_model_name

    @property
    def log_path(self) -> Path | None:
        return self.server.log_path

    @property
    def container_name(self) -> str | None:
        """The docker target's container, for tools run inside it."""
        return self.server.container_name

    def client(self, timeout_s: float | None = None) -> ChatClient:
        """A client of its own (its own connections: one per thread), naming the served model."""
        return ChatClient(self.base_url, self.model, self.request_timeout_s if timeout_s is None else timeout_s,
                          self.api_key, self.lora_names, self.token_gap_s, self.version)

    @classmethod
    def at(cls, base_url: str, model: str, api_key: str | None = None) -> Endpoint:
        """An endpoint known by its address alone (a server the suite did not start, a benchmark's simulator)."""
        return cls(Server(base_url, model, "external", None, None, None), api_key)


def ready_endpoint(server: Server, api_key: str | None, request_timeout_s: float, token_gap_s: float | None,
                   version: str | None) -> Endpoint:
    """The ready server's endpoint, with the LoRA adapters /v1/models lists, asked once: with its version they
    name its replies' `model`. A server that does not answer has none (each test that needs it says so)."""
    endpoint = Endpoint(server, api_key, request_timeout_s, token_gap_s, version)
    with closing(endpoint.client()) as client:
        try:
            return replace(endpoint, lora_names=lora_names_listed(client.get("/v1/models").json, endpoint.model))
        except ServerUnreachable:
            return endpoint
