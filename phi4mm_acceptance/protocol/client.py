"""The suite's one HTTP client for the server under test: plain calls, chat, and timed streaming.

Transport failures become ServerUnreachable with the URL and the cause, so a dead server reads as
"server not answering" in every test rather than as a stack of httpx internals.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from phi4mm_acceptance.protocol.releases import release_of
from phi4mm_acceptance.protocol.vllm_api import reply_model_name, tokenize_counts_media


def parse_json(text: str) -> Any:
    """The body as JSON, or None when it is not JSON (error pages, truncated bodies)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


class TokenStall(TimeoutError):
    """A stream that sent nothing for longer than its token deadline: the engine is stuck."""


class ServerUnreachable(ConnectionError):
    """The server did not answer at all (refused, reset, timed out)."""


@dataclass(frozen=True)
class HttpReply:
    status: int
    content_type: str
    text: str
    elapsed_ms: float
    expected_model: str | None = None  # for chat replies: the `model` vLLM names for this request

    @property
    def json(self) -> Any:
        return parse_json(self.text)


@dataclass
class StreamReply:
    """A streamed chat answer: each `data:` payload with its arrival time since the request was sent."""

    status: int
    content_type: str
    events: list[str] = field(default_factory=list)
    arrivals_ms: list[float] = field(default_factory=list)
    stray_lines: list[str] = field(default_factory=list)
    error_text: str = ""
    expected_model: str | None = None

    def chunks(self) -> list[dict[str, Any]]:
        parsed = []
        for event in self.events:
            if event == "[DONE]":
                continue
            try:
                parsed.append(json.loads(event))
            except json.JSONDecodeError:
                continue
        return parsed

    @property
    def content(self) -> str:
        return "".join((c["choices"][0].get("delta") or {}).get("content") or ""
                       for c in self.chunks() if c.get("choices"))

    @property
    def usage(self) -> dict[str, Any] | None:
        return next((c["usage"] for c in reversed(self.chunks()) if c.get("usage")), None)

    @property
    def finish_reason(self) -> str | None:
        return next((c["choices"][0]["finish_reason"] for c in self.chunks()
                     if c.get("choices") and c["choices"][0].get("finish_reason")), None)

    def gaps_ms(self) -> list[float]:
        """Time between successive events, the first measured from the request."""
        return [b - a for a, b in zip([0.0, *self.arrivals_ms], self.arrivals_ms)]

    @property
    def ttft_ms(self) -> float | None:
        """Time to the first chunk that carries generated text (the role-only chunk does not count)."""
        for event, arrived in zip(self.events, self.arrivals_ms):
            if event == "[DONE]":
                continue
            try:
                chunk = json.loads(event)
            except json.JSONDecodeError:
                continue
            if chunk.get("choices") and (chunk["choices"][0].get("delta") or {}).get("content"):
                return arrived
        return None


def chat_payload(model: str, messages: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
    """A chat request body; greedy (temperature 0) unless params say otherwise, so answers are comparable."""
    return {"model": model, "messages": messages, "temperature": 0, **params}


class ChatClient:
    """`lora_names`: the LoRA adapters the server lists (/v1/models), which with `server_version` (GET /version)
    decide the `model` of its replies."""

    def __init__(self, base_url: str, model: str, timeout_s: float, api_key: str | None = None,
                 lora_names: frozenset[str] = frozenset(), token_gap_s: float | None = None,
                 server_version: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.lora_names = lora_names
        self.server_version = server_version
        self.token_gap_s = token_gap_s
        self._api_key = api_key
        self._client_args = {"base_url": self.base_url, "timeout": timeout_s, "trust_env": False,
                             "headers": {"Authorization": f"Bearer {api_key}"} if api_key else {}}
        self._http = httpx.Client(**self._client_args)

    def close(self) -> None:
        self._http.close()

    def naming(self, model: str) -> ChatClient:
        """A client of its own (its own connections, so it may run in another thread) whose requests name
        `model`: the served model, or one of its LoRA adapters."""
        return ChatClient(self.base_url, model, self._client_args["timeout"], self._api_key, self.lora_names,
                          self.token_gap_s, self.server_version)

    @contextmanager
    def _transport(self, what: str, stall_after_s: float | None = None) -> Iterator[None]:
        try:
            yield
        except httpx.ReadTimeout:
            if stall_after_s is None:
                raise ServerUnreachable(f"{what} at {self.base_url}: server not answering (ReadTimeout)") from None
            self._drop_connections()
            raise TokenStall(f"{what} at {self.base_url}: no token for {stall_after_s:g} s") from None
        except httpx.TransportError as exc:
            raise ServerUnreachable(f"{what} at {self.base_url}: server not answering "
                                    f"({type(exc).__name__}: {exc or 'no detail'})") from None

    def _drop_connections(self) -> None:
        self._http.close()
        self._http = httpx.Client(**self._client_args)

    def _after_error(self, status: int) -> None:
        """After an error reply, open new connections: vLLM's uvicorn closes a connection whose request raised
        (the error reply comes from Starlette's error middleware), without saying so, and a reused one would then
        be reset. A 500 there in every release (measured 0.32); a 400 too in 0.23 (measured 0.23.0: an image that
        fails to load raises its ValueError out of the chat handler, to the app's exception handler)."""
        if status >= 400:
            self._drop_connections()

    def get(self, path: str) -> HttpReply:
        return self._request("GET", path)

    def post_json(self, path: str, payload: Any) -> HttpReply:
        return self._request("POST", path, content=json.dumps(payload).encode(),
                             headers={"content-type": "application/json"})

    def post_raw(self, path: str, content: bytes) -> HttpReply:
        return self._request("POST", path, content=content, headers={"content-type": "application/json"})

    def _request(self, method: str, path: str, **kwargs: Any) -> HttpReply:
        start = time.perf_counter()
        with self._transport(f"{method} {path}"):
            response = self._http.request(method, path, **kwargs)
        self._after_error(response.status_code)
        return HttpReply(response.status_code, response.headers.get("content-type", ""), response.text,
                         (time.perf_counter() - start) * 1000)

    def expected_model(self, payload: dict[str, Any]) -> str:
        return reply_model_name(payload, self.model, self.lora_names, self.server_version)

    @staticmethod
    def has_media(messages: list[dict[str, Any]]) -> bool:
        return any(isinstance(part, dict) and part.get("type") != "text"
                   for m in messages if isinstance(m, dict) and isinstance(m.get("content"), list)
                   for part in m["content"])

    def prompt_tokens(self, messages: list[dict[str, Any]]) -> int | None:
        """The prompt's length as the server counts it, media included (vLLM's POST /tokenize with chat
        messages, counted as the chat endpoint counts them); None when the server cannot tell: no /tokenize,
        or a release whose /tokenize does not count media or must not be sent them (vllm_api.tokenize_counts_media)."""
        if self.has_media(messages) and not tokenize_counts_media(release_of(self.server_version)):
            return None
        reply = self.post_json("/tokenize", {"model": self.model, "messages": messages})
        count = reply.json.get("count") if reply.status == 200 and isinstance(reply.json, dict) else None
        return count if isinstance(count, int) and not isinstance(count, bool) else None

    def text_tokens(self, text: str) -> int | None:
        """How many tokens the server's tokenizer makes of a plain text (POST /tokenize with a `prompt`)."""
        reply = self.post_json("/tokenize", {"model": self.model, "prompt": text, "add_special_tokens": False})
        count = reply.json.get("count") if reply.status == 200 and isinstance(reply.json, dict) else None
        return count if isinstance(count, int) and not isinstance(count, bool) else None

    def chat(self, messages: list[dict[str, Any]], **params: Any) -> HttpReply:
        payload = chat_payload(self.model, messages, **params)
        reply = self.post_json("/v1/chat/completions", payload)
        return replace(reply, expected_model=self.expected_model(payload))

    def stream_chat(self, messages: list[dict[str, Any]], include_usage: bool = True, **params: Any) -> StreamReply:
        """A streamed chat; no chunk for `token_gap_s` (the client's default, else the request timeout) raises
        TokenStall, so a stuck engine fails in seconds."""
        payload = chat_payload(self.model, messages, stream=True, **params)
        if include_usage:
            payload["stream_options"] = {"include_usage": True}
        gap = self.token_gap_s or self._client_args["timeout"]
        start = time.perf_counter()
        with self._transport("POST /v1/chat/completions (stream)", stall_after_s=gap), self._http.stream(
            "POST", "/v1/chat/completions", json=payload, timeout=httpx.Timeout(self._client_args["timeout"], read=gap)
        ) as response:
            reply = StreamReply(response.status_code, response.headers.get("content-type", ""),
                                expected_model=self.expected_model(payload))
            if response.status_code != 200:
                reply.error_text = response.read().decode(errors="replace")
                self._after_error(response.status_code)
                return reply
            for line in response.iter_lines():
                arrived = (time.perf_counter() - start) * 1000
                if line.startswith("data: "):
                    reply.events.append(line[len("data: "):])
                    reply.arrivals_ms.append(arrived)
                elif line.strip():
                    reply.stray_lines.append(line)
        return reply


def probe_health(base_url: str, timeout_s: float = 2.0) -> int | None:
    """GET /health status, or None when nothing answers."""
    try:
        return httpx.get(f"{base_url}/health", timeout=timeout_s, trust_env=False).status_code
    except httpx.HTTPError:
        return None
