"""The simulator's HTTP side: vLLM's OpenAI-compatible endpoints on the standard library's server.

Start-up prints vLLM's and uvicorn's lines in the real order; /health is 503 until the fake model has
"loaded". Chat answers follow the timing model so latencies are known ground truth.
"""
from __future__ import annotations

import json
import os
import select
import socket
import struct
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from simulator.chat import ChatPlan, ServingLimits, plan_chat, read_prompt
from simulator.claimed import ClaimedVersion
from simulator.environment import describe_environment
from simulator.errors import ApiError, EngineCrash
from simulator.faults.base import Fault
from simulator.log import log, vllm_log
from simulator.model import FakeModel, split_into_tokens
from simulator.stream import chunks, completion_id
from simulator.timing import RunningRequests, Slowdown, TimingModel, sleep_until

if TYPE_CHECKING:
    from simulator.faults import Faults

ROUTES = (
    ("/health", "GET"),
    ("/version", "GET"),
    ("/metrics", "GET"),
    ("/v1/models", "GET"),
    ("/tokenize", "POST"),
    ("/v1/chat/completions", "POST"),
    ("/sim/environment", "GET"),
)


@dataclass
class Counters:
    lock: threading.Lock = field(default_factory=threading.Lock)
    chat_requests: int = 0
    succeeded: int = 0
    prompt_tokens: int = 0
    generation_tokens: int = 0
    ttft_sum_s: float = 0.0

    def next_chat_number(self) -> int:
        with self.lock:
            self.chat_requests += 1
            return self.chat_requests

    def record(self, plan: ChatPlan, sent: int, ttft_s: float) -> None:
        with self.lock:
            self.succeeded += 1
            self.prompt_tokens += plan.prompt_tokens
            self.generation_tokens += sent
            self.ttft_sum_s += ttft_s


@dataclass
class SimState:
    model: FakeModel
    limits: ServingLimits
    timing: TimingModel
    faults: Faults  # the faults switched on, with the state they keep
    ready: bool = False
    running: RunningRequests = field(default_factory=RunningRequests)
    counters: Counters = field(default_factory=Counters)
    trace: TraceLog | None = None
    api_key: str | None = None  # --api-key: /v1 routes need `Authorization: Bearer <key>`
    keep_alive_s: float = 5.0  # VLLM_HTTP_TIMEOUT_KEEP_ALIVE: uvicorn closes a connection idle this long


class TraceLog:
    """SIM_TRACE_FILE: one JSON line per streamed chat with wall-clock receipt and, per token, when its write
    started and returned, keyed by the client's x-request-id, so a benchmark can split measured latency into
    server and client parts."""

    def __init__(self, path: str) -> None:
        self._lock = threading.Lock()
        self._file = open(path, "a", buffering=1)  # noqa: SIM115 - open for the server's lifetime

    def write(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._file.write(json.dumps(record) + "\n")


SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux's value; Python 3.11 does not name it


def wire_arrival(connection: socket.socket) -> float | None:
    """Wall-clock time the kernel received the next pending bytes (SO_TIMESTAMPNS), waiting for them if none."""
    try:
        _, ancillary, _, _ = connection.recvmsg(1, socket.CMSG_SPACE(16), socket.MSG_PEEK)
    except OSError:
        return None
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            seconds, nanoseconds = struct.unpack("qq", data[:16])
            return seconds + nanoseconds / 1e9
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # as uvicorn: small SSE writes must not wait for delayed ACKs
    server_version = "uvicorn"
    sys_version = ""
    state: SimState  # set on the subclass made by serve()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
        """Silence the standard library's own access log; access lines are written by _access()."""

    def _access(self, status: int) -> None:
        phrase = HTTPStatus(status).phrase
        log(f'INFO:     {self.client_address[0]}:{self.client_address[1]} - "{self.command} {self.path} '
            f'{self.request_version}" {status} {phrase}')

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response_only(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        self._access(status)

    def _json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload).encode())

    def _error(self, error: ApiError) -> None:
        faults, claimed = self.state.faults, self.state.limits.claimed
        error = faults.apply(Fault.error, error)
        status = 200 if error.raised and claimed.raised_errors_as_200 else error.status
        self._json(faults.apply(Fault.error_status, status, error), error.body(claimed))

    def _read_json_quietly(self) -> None:
        """Consume a refused request's body so the connection stays usable."""
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)

    def _read_json(self) -> Any:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"JSON decode error: {exc}") from None

    def _authorised(self, path: str) -> bool:
        """vLLM's --api-key guards the /v1 routes only; a wrong or missing key is 401 {"error": "Unauthorized"}."""
        key = self.state.api_key
        if key and path.startswith("/v1") and self.headers.get("authorization") != f"Bearer {key}":
            self._json(401, {"error": "Unauthorized"})
            return False
        return True

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?")[0]
        if not self._authorised(path):
            return
        if path == "/health":
            self._send(200 if self.state.ready else 503, b"")
        elif not self.state.ready:
            self._error(ApiError(503, "The server is starting up."))
        elif path == "/version":
            self._json(200, {"version": self.state.limits.claimed.text})
        elif path == "/v1/models":
            self._json(200, self._models())
        elif path == "/metrics":
            self._send(200, self._metrics().encode(), "text/plain; version=0.0.4; charset=utf-8")
        elif path == "/sim/environment":
            self._json(200, describe_environment())
        else:
            self._json(404, {"detail": "Not Found"})

    def setup(self) -> None:
        super().setup()
        if self.state.trace is not None:
            self.connection.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)

    def handle_one_request(self) -> None:
        """As uvicorn under vLLM, a keep-alive connection that stays idle for keep_alive_s is closed. With a
        trace, a request's receipt is the kernel's arrival time of its first bytes (peeked, not read), so the
        trace's server time includes this Python server's own intake queue under bursts."""
        if not select.select([self.connection], [], [], self.state.keep_alive_s)[0]:
            self.close_connection = True
            return
        self._received = wire_arrival(self.connection) if self.state.trace is not None else None
        super().handle_one_request()

    def parse_request(self) -> bool:
        self._received = self._received or time.time()
        return super().parse_request()

    def do_POST(self) -> None:  # noqa: N802
        path = self.path.split("?")[0]
        if not self._authorised(path):
            self._read_json_quietly()
            return
        try:
            if not self.state.ready:
                raise ApiError(503, "The server is starting up.")
            if path == "/v1/chat/completions":
                self._chat()
            elif path == "/tokenize":
                self._tokenize()
            else:
                self._json(404, {"detail": "Not Found"})
        except ApiError as error:
            self._error(error)

    def _models(self) -> dict[str, Any]:
        created = int(time.time())
        max_len = self.state.faults.apply(Fault.listed_max_model_len, self.state.limits.max_model_len)
        base = self.state.limits.served_names[0]
        data = [
            {"id": name, "object": "model", "created": created, "owned_by": "vllm", "root": str(self.state.model.path),
             "parent": None, "max_model_len": max_len, "permission": [_permission(created)]}
            for name in self.state.limits.served_names
        ]
        data += [
            {"id": name, "object": "model", "created": created, "owned_by": "vllm", "root": path,
             "parent": base, "max_model_len": None, "permission": [_permission(created)]}
            for name, path in self.state.limits.loras.items()
        ]
        return {"object": "list", "data": data}

    def _metrics(self) -> str:
        name = self.state.limits.served_names[0]
        c = self.state.counters
        label = f'{{model_name="{name}"}}'
        lines = [
            "# HELP vllm:num_requests_running Number of requests in model execution batches.",
            "# TYPE vllm:num_requests_running gauge",
            f"vllm:num_requests_running{label} {self.state.running.count}",
            "# TYPE vllm:request_success_total counter",
            f"vllm:request_success_total{label} {c.succeeded}",
            "# TYPE vllm:prompt_tokens_total counter",
            f"vllm:prompt_tokens_total{label} {c.prompt_tokens}",
            "# TYPE vllm:generation_tokens_total counter",
            f"vllm:generation_tokens_total{label} {c.generation_tokens}",
            "# TYPE vllm:time_to_first_token_seconds histogram",
            f"vllm:time_to_first_token_seconds_sum{label} {c.ttft_sum_s}",
            f"vllm:time_to_first_token_seconds_count{label} {c.succeeded}",
            "# HELP process_resident_memory_bytes Resident memory size in bytes.",
            "# TYPE process_resident_memory_bytes gauge",
            f"process_resident_memory_bytes {resident_memory_bytes():.1f}",
        ]
        return "\n".join(lines) + "\n"

    def _tokenize(self) -> None:
        """vLLM's POST /tokenize: a `prompt`, or chat `messages` counted as the chat endpoint counts them."""
        body = self._read_json()
        if isinstance(body, dict) and isinstance(body.get("messages"), list):
            count, _, items = read_prompt(body["messages"], self.state.limits, self.state.faults)
            if items and not self.state.limits.claimed.tokenize_counts_media:  # the text, a placeholder an item
                count = read_prompt(_text_only(body["messages"]), self.state.limits, self.state.faults)[0] + len(items)
            tokens = [number % 200_000 for number in range(count)]
        elif isinstance(body, dict) and isinstance(body.get("prompt"), str):
            tokens = [zlib.crc32(piece.strip().encode()) % 200_000 for piece in split_into_tokens(body["prompt"])]
        else:
            raise ApiError(400, "Field required: prompt (a string) or messages (a list).", "prompt")
        self._json(200, {"count": len(tokens), "max_model_len": self.state.limits.max_model_len,
                         "tokens": tokens, "token_strs": None})

    def _chat(self) -> None:
        state, faults = self.state, self.state.faults
        body = self._read_json()
        number = state.counters.next_chat_number()
        faults.notify(Fault.received, number)
        try:
            plan = plan_chat(body, state.limits, state.model, faults)
        except EngineCrash as crash:
            vllm_log("ERROR", "core.py:712", str(crash))
            os._exit(1)
        faults.notify(Fault.planned, number)
        with faults.generating(), state.running as running:
            start = time.perf_counter()
            slow = faults.apply(Fault.slowdown, Slowdown(), number)
            encode_ms = state.timing.encode_ms(plan.encoded_images, plan.encoded_audio_s, slow.image_factor,
                                               slow.audio_factor)
            ttft = state.timing.ttft_s(plan.prompt_tokens, running, slow.first_token_ms + encode_ms) * slow.factor
            tpot = (state.timing.tpot_s(running) + slow.decode_ms / 1000) * slow.factor
            deadlines = faults.apply(Fault.deadlines, [start + ttft + i * tpot for i in range(plan.completion_tokens)])
            usage = faults.apply(Fault.usage, _usage(plan, state.limits.claimed))
            if plan.stream:
                self._stream(plan, deadlines, usage)
            else:
                if deadlines:
                    sleep_until(deadlines[-1])
                self._json(200, faults.apply(Fault.completion, _completion(plan, usage, state.limits.claimed)))
        state.counters.record(plan, plan.usage_completion_tokens, ttft)
        faults.notify(Fault.answered, number)

    def _stream(self, plan: ChatPlan, deadlines: list[float], usage: dict[str, Any]) -> None:
        self.send_response_only(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        self._access(200)
        token_times, last_token = [], None
        for chunk in self.state.faults.apply(Fault.stream, chunks(plan, deadlines, usage), plan, usage):
            if chunk.deadline is not None:
                sleep_until(chunk.deadline)
            sent = self._write_chunk(chunk.encoded())
            if chunk.token is not None:
                token_times.append(sent)
                last_token = chunk.token
        if token_times and last_token == len(plan.pieces) - 1 and self.state.trace is not None:  # not cut short
            self.state.trace.write({"id": self.headers.get("x-request-id"), "received": self._received,
                                    "first_token": token_times[0][1], "tokens": token_times})
        self._write_chunk(b"")

    def _write_chunk(self, data: bytes) -> tuple[float, float]:
        """Wall-clock times the write started and returned: the bytes reached the peer in between."""
        framed = b"%x\r\n%s\r\n" % (len(data), data)
        started = time.time()
        self.wfile.write(framed)
        self.wfile.flush()
        return started, time.time()


def resident_memory_bytes() -> float:
    """This process's resident set, as prometheus_client's process collector reads it (/proc/self/statm)."""
    pages = int(open("/proc/self/statm").read().split()[1])
    return float(pages * os.sysconf("SC_PAGE_SIZE"))


def _permission(created: int) -> dict[str, Any]:
    return {"id": f"modelperm-{uuid.uuid4().hex}", "object": "model_permission", "created": created,
            "allow_create_engine": False, "allow_sampling": True, "allow_logprobs": True,
            "allow_search_indices": False, "allow_view": True, "allow_fine_tuning": False,
            "organization": "*", "group": None, "is_blocking": False}


def _text_only(messages: list[Any]) -> list[Any]:
    """The messages without their media parts."""
    return [{**m, "content": [p for p in m["content"] if isinstance(p, dict) and p.get("type") == "text"]}
            if isinstance(m, dict) and isinstance(m.get("content"), list) else m for m in messages]


def _usage(plan: ChatPlan, claimed: ClaimedVersion) -> dict[str, Any]:
    details = {} if claimed.omits_null_annotations else {"prompt_tokens_details": None}
    return {"prompt_tokens": plan.prompt_tokens, "total_tokens": plan.prompt_tokens + plan.usage_completion_tokens,
            "completion_tokens": plan.usage_completion_tokens, **details}


def _completion(plan: ChatPlan, usage: dict[str, Any], claimed: ClaimedVersion) -> dict[str, Any]:
    message = {"role": "assistant", "content": "".join(plan.pieces), "refusal": None, "annotations": None,
               "audio": None, "function_call": None, "tool_calls": [], "reasoning_content": None}  # vLLM 0.11's fields
    if claimed.omits_null_annotations:
        del message["annotations"]
    return {"id": completion_id(), "object": "chat.completion", "created": int(time.time()), "model": plan.model,
            "choices": [{"index": index, "message": message, "finish_reason": plan.finish_reason,
                         "stop_reason": plan.stop_reason, "logprobs": plan.logprobs} for index in range(plan.n)],
            "usage": usage, "prompt_logprobs": None}


class SimHTTPServer(ThreadingHTTPServer):
    request_queue_size = 2048  # uvicorn's backlog; the standard library's 5 drops bursts of connections
    daemon_threads = True


def bind(host: str, port: int, state: SimState) -> ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"state": state})
    server = SimHTTPServer((host, port), handler)
    return server
