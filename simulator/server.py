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
import sys
import threading
import time
import uuid
import zlib
from contextlib import nullcontext
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from simulator.chat import ApiError, ChatPlan, EngineCrash, ServingLimits, plan_chat, read_prompt
from simulator.claimed import ClaimedVersion
from simulator.environment import describe_environment
from simulator.faults import Faults
from simulator.model import FakeModel, split_into_tokens
from simulator.timing import RunningRequests, TimingModel, sleep_until

ROUTES = (
    ("/health", "GET"),
    ("/version", "GET"),
    ("/metrics", "GET"),
    ("/v1/models", "GET"),
    ("/tokenize", "POST"),
    ("/v1/chat/completions", "POST"),
    ("/sim/environment", "GET"),
)
_print_lock = threading.Lock()
STALL_S = 0.05  # the stall_every_tokens fault's late token: a scheduler hiccup of 50 ms
SLOW_REQUEST_FACTOR = 1.5  # the slow_requests_pct fault's requests: 50% longer
SPREAD = 37  # coprime to 100: request numbers times it modulo 100 pick N in every 100, spread out


def log(line: str) -> None:
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def vllm_log(level: str, where: str, message: str) -> None:
    log(f"{level} {time.strftime('%m-%d %H:%M:%S')} [{where}] {message}")


@dataclass
class Counters:
    lock: threading.Lock = field(default_factory=threading.Lock)
    chat_requests: int = 0
    succeeded: int = 0
    prompt_tokens: int = 0
    generation_tokens: int = 0
    ttft_sum_s: float = 0.0
    tokens_planned: int = 0

    def next_chat_number(self) -> int:
        with self.lock:
            self.chat_requests += 1
            return self.chat_requests

    def with_stalls(self, deadlines: list[float], every: int, stall_s: float) -> list[float]:
        """The stall_every_tokens fault: every `every`-th token the server generates, counted across all
        requests, comes `stall_s` late, and the tokens after it in its stream with it."""
        with self.lock:
            first, self.tokens_planned = self.tokens_planned, self.tokens_planned + len(deadlines)
        delay, delayed = 0.0, []
        for number, deadline in enumerate(deadlines, start=first + 1):
            delay += stall_s * (number % every == 0)
            delayed.append(deadline + delay)
        return delayed

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
    faults: Faults
    ready: bool = False
    running: RunningRequests = field(default_factory=RunningRequests)
    serial: threading.Lock = field(default_factory=threading.Lock)
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
        claimed = self.state.limits.claimed
        as_200 = error.raised and (claimed.raised_errors_as_200 or self.state.faults.error_body_with_http_200)
        self._json(200 if as_200 else error.status, error.body(claimed))

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
            if error.status == 400 and self.state.faults.bad_request_as_500:
                error = ApiError(500, f"Internal error while processing request: {error.message}")
            self._error(error)

    def _models(self) -> dict[str, Any]:
        created = int(time.time())
        max_len = self.state.faults.wrong_max_model_len or self.state.limits.max_model_len
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
        state = self.state
        body = self._read_json()
        number = state.counters.next_chat_number()
        if state.faults.http500_every and number % state.faults.http500_every == 0:
            raise ApiError(500, "EngineCore encountered an issue while processing the request (simulated fault).")
        try:
            plan = plan_chat(body, state.limits, state.model, state.faults)
        except EngineCrash as crash:
            vllm_log("ERROR", "core.py:712", str(crash))
            os._exit(1)
        if state.faults.engine_stall_after and number > state.faults.engine_stall_after:
            threading.Event().wait()  # the engine hangs; the API server's probes keep answering
        with state.serial if state.faults.serialize_requests else nullcontext(), state.running as running:
            start = time.perf_counter()
            encode_ms = state.timing.encode_ms(plan.encoded_images, plan.encoded_audio_s,
                                               state.faults.slow_image_path, state.faults.slow_audio_path)
            ttft = state.timing.ttft_s(plan.prompt_tokens, running, state.faults.slow_first_token_ms + encode_ms)
            tpot = state.timing.tpot_s(running) + state.faults.slow_decode_ms / 1000
            if number * SPREAD % 100 < state.faults.slow_requests_pct:
                ttft, tpot = ttft * SLOW_REQUEST_FACTOR, tpot * SLOW_REQUEST_FACTOR
            deadlines = [start + ttft + i * tpot for i in range(plan.completion_tokens)]
            if state.faults.stall_every_tokens:
                deadlines = state.counters.with_stalls(deadlines, state.faults.stall_every_tokens, STALL_S)
            if plan.stream:
                self._stream(plan, deadlines)
            else:
                if deadlines:
                    sleep_until(deadlines[-1])
                self._json(200, _completion(plan, state.faults, state.limits.claimed))
        state.counters.record(plan, plan.usage_completion_tokens, ttft)
        if state.faults.die_after and number >= state.faults.die_after:
            vllm_log("ERROR", "core.py:712", "EngineCore encountered a fatal error (simulated fault: die_after).")
            os._exit(1)

    def _stream(self, plan: ChatPlan, deadlines: list[float]) -> None:
        self.send_response_only(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        self._access(200)
        ident, created = _ident(), int(time.time())
        usage_field = {"usage": None} if plan.include_usage else {}
        if self.state.faults.usage_in_every_chunk:  # as continuous_usage_stats would, though nobody asked
            usage_field = {"usage": _usage(plan, self.state.faults, self.state.limits.claimed)}

        def chunk(choices: list[dict[str, Any]], tokens: int = 0, **extra: Any) -> dict[str, Any]:
            """`tokens` generated so far: with continuous_usage_stats each choice chunk carries the usage up to it
            (vLLM 0.11-0.34 chat_completion_stream_generator)."""
            usage = {"usage": {"prompt_tokens": plan.prompt_tokens, "completion_tokens": tokens,
                               "total_tokens": plan.prompt_tokens + tokens}} if plan.continuous_usage else usage_field
            return {"id": ident, "object": "chat.completion.chunk", "created": created, "model": plan.model,
                    "choices": choices, **usage, **extra}

        def choice(delta: dict[str, Any], finish: str | None = None, index: int = 0) -> list[dict[str, Any]]:
            return [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}]

        faults = self.state.faults
        if faults.stream_only_done:
            self._write_chunk(b"data: [DONE]\n\n")
            self._write_chunk(b"")
            return
        if deadlines:
            sleep_until(deadlines[0])
        role = {} if faults.stream_no_role else {"role": "assistant"}
        for number in range(plan.n):  # vLLM 0.11-0.34: a role chunk for each choice first (measured 0.32, n=2)
            self._event(chunk(choice({**role, "content": ""}, index=number)))
        pieces = list(plan.pieces)
        if faults.stream_stop_leak and plan.stop_reason and pieces:
            pieces[-1] += plan.stop_reason[0]
        if faults.stream_broken_multibyte:
            pieces = ["".join("\ufffd" if ord(c) >= 0x2E80 else c for c in piece) for piece in pieces]
        last = len(pieces) - 1
        finish = "length" if faults.stream_stop_finish_length and plan.stop_reason else plan.finish_reason
        token_times = []
        for index, piece in enumerate(pieces):
            if faults.stream_cut_after_tokens and index >= faults.stream_cut_after_tokens:
                self._write_chunk(b"")  # the stream just ends: no finish_reason, usage or [DONE]
                return
            sleep_until(deadlines[index])
            if not piece and index != last:
                continue  # vLLM sends no delta for a token whose text is held back (a stop string's start)
            token_times += [self._event(chunk(choice({"content": piece}, finish if index == last else None, number),
                                              index + 1)) for number in range(plan.n)]
        if token_times and self.state.trace is not None:
            self.state.trace.write({"id": self.headers.get("x-request-id"), "received": self._received,
                                    "first_token": token_times[0][1], "tokens": token_times})
        if not pieces:
            for number in range(plan.n):
                self._event(chunk(choice({"content": ""}, finish, number)))
        if plan.include_usage:
            self._event(chunk([], usage=_usage(plan, faults, self.state.limits.claimed)))
        if not faults.stream_no_done:
            self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")

    def _event(self, payload: dict[str, Any]) -> tuple[float, float]:
        return self._write_chunk(b"data: " + json.dumps(payload).encode() + b"\n\n")

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


def _ident() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def _usage(plan: ChatPlan, faults: Faults, claimed: ClaimedVersion) -> dict[str, Any]:
    total = plan.prompt_tokens + plan.usage_completion_tokens + (1 if faults.bad_usage else 0)
    details = {} if claimed.omits_null_annotations else {"prompt_tokens_details": None}
    return {"prompt_tokens": plan.prompt_tokens, "total_tokens": total,
            "completion_tokens": plan.usage_completion_tokens, **details}


def _completion(plan: ChatPlan, faults: Faults, claimed: ClaimedVersion) -> dict[str, Any]:
    message = {"role": "assistant", "content": "".join(plan.pieces), "refusal": None, "annotations": None,
               "audio": None, "function_call": None, "tool_calls": [], "reasoning_content": None}  # vLLM 0.11's fields
    if claimed.omits_null_annotations:
        del message["annotations"]
    if faults.omit_null_fields:  # serialised without its None fields: keys the OpenAI schema requires go missing
        message = {key: value for key, value in message.items() if value is not None}
    return {"id": _ident(), "object": "chat.completion", "created": int(time.time()), "model": plan.model,
            "choices": [{"index": index, "message": message, "finish_reason": plan.finish_reason,
                         "stop_reason": plan.stop_reason, **({} if faults.omit_null_fields and plan.logprobs is None
                                                             else {"logprobs": plan.logprobs})}
                        for index in range(plan.n)],
            "usage": _usage(plan, faults, claimed), "prompt_logprobs": None}


class SimHTTPServer(ThreadingHTTPServer):
    request_queue_size = 2048  # uvicorn's backlog; the standard library's 5 drops bursts of connections
    daemon_threads = True


def bind(host: str, port: int, state: SimState) -> ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"state": state})
    server = SimHTTPServer((host, port), handler)
    return server
