"""A minimal HTTP/1.1 client for timing streamed answers with as little client delay as possible: requests
are pre-serialised bytes on connections opened before the clock starts, and every piece read from the socket
carries its arrival time before any parsing. The response is parsed only when it is complete, off the measured
path: when many streams deliver at once, the last one is not timed after the parsing of all the others.

On plain TCP the arrival time is the kernel's (SO_TIMESTAMPNS), not the moment the event loop gets round to
the socket: with fifty streams on two cores the loop is often busy elsewhere when bytes land. Over TLS, or
where the kernel gives no stamp, it is the time of the read.
"""
from __future__ import annotations

import asyncio
import bisect
import socket
import ssl
import struct
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

CHUNKED_END = b"\r\n0\r\n\r\n"
EVENT_END = b"\n\n"  # a server-sent event's terminator
READ_SIZE = 1 << 18
MAX_IDLE_S = 3.0  # reuse a keep-alive connection idle no longer: uvicorn under vLLM closes them after 5 s
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux's value; Python 3.11 does not name it
TIMESPEC = struct.Struct("qq")
AddressInfo = tuple[int, int, int, str, tuple]  # one getaddrinfo result


class HttpStatusError(RuntimeError):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:200]!r}")
        self.status = status


@dataclass(frozen=True)
class TimedResponse:
    status: int
    chunks: list[tuple[float, bytes]]  # (perf_counter time the chunk's last byte arrived, chunk body)
    keep_alive: bool


class _Exchange(asyncio.Protocol):
    """Collects one response at a time: raw reads with their arrival times, and completion. As an asyncio
    protocol (TLS) a read is timed when the loop hands it over; _KernelStampedSocket passes its own times."""

    def __init__(self) -> None:
        self.lost: Exception | None = None
        self.expect(None)

    def expect(self, done: asyncio.Future[None] | None) -> None:
        """Start collecting a new response; `done` resolves when it is complete."""
        self.buffer = bytearray()
        self.read_ends: list[int] = []  # buffer length after each read
        self.read_times: list[float] = []
        self.head_end = -1
        self.headers: dict[str, str] = {}
        self.done = done

    def data_received(self, data: bytes) -> None:
        self.received(data, time.perf_counter())

    def received(self, data: bytes, arrived: float) -> None:
        self.read_times.append(arrived)
        self.buffer += data
        self.read_ends.append(len(self.buffer))
        if self.done is not None and not self.done.done() and self._complete():
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc or ConnectionResetError("the server closed the connection")
        if self.done is not None and not self.done.done():
            if self.head_end >= 0 and "content-length" not in self.headers and not self._chunked():
                self.done.set_result(None)  # a body delimited by the connection's end
            else:
                self.done.set_exception(self.lost)

    def _chunked(self) -> bool:
        return self.headers.get("transfer-encoding", "").lower() == "chunked"

    def _complete(self) -> bool:
        if self.head_end < 0:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return False
            self.head_end = end + 4
            lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")[1:]
            self.headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines if h)}
        if self._chunked():
            return self.buffer.endswith(CHUNKED_END) or bytes(self.buffer[self.head_end:]) == CHUNKED_END[2:]
        return len(self.buffer) - self.head_end >= int(self.headers.get("content-length", "0"))

    def response(self) -> TimedResponse:
        status = int(bytes(self.buffer[: self.buffer.find(b"\r\n")]).split()[1])
        if self._chunked():
            chunks = []
            position = self.head_end
            while True:
                line_end = self.buffer.index(b"\r\n", position)
                size = int(bytes(self.buffer[position:line_end]).split(b";")[0], 16)
                if size == 0:
                    break
                start, end = line_end + 2, line_end + 2 + size
                chunks.append((self._arrival(end), bytes(self.buffer[start:end])))
                position = end + 2
        else:
            chunks = [(self._arrival(len(self.buffer)), bytes(self.buffer[self.head_end:]))]
        keep_alive = self.lost is None and self.headers.get("connection", "").lower() != "close"
        return TimedResponse(status, chunks, keep_alive)

    def _arrival(self, offset: int) -> float:
        """When the byte before `offset` arrived: the time of the read that brought it."""
        return self.read_times[bisect.bisect_left(self.read_ends, offset)]


def event_ends(data: bytes) -> list[int]:
    """Offsets just past each server-sent event in `data`, and its end: the pieces to consume one by one."""
    ends, position = [], data.find(EVENT_END)
    while position >= 0:
        ends.append(position + len(EVENT_END))
        position = data.find(EVENT_END, position + len(EVENT_END))
    return ends if ends and ends[-1] == len(data) else [*ends, len(data)]


def kernel_time(ancillary: list[tuple[int, int, bytes]]) -> float | None:
    """The wall-clock arrival time in a recvmsg's ancillary data, if the kernel stamped it."""
    stamps = [TIMESPEC.unpack(data[:TIMESPEC.size]) for level, kind, data in ancillary
              if (level, kind) == (socket.SOL_SOCKET, SO_TIMESTAMPNS) and len(data) >= TIMESPEC.size]
    return stamps[-1][0] + stamps[-1][1] / 1e9 if stamps else None


class _KernelStampedSocket:
    """Reads a plain TCP socket itself so that each piece carries the kernel's arrival time. Bytes are peeked
    first, then consumed one server-sent event at a time: each event gets the stamp of the segment that
    completed it. Segments that queued up unread are merged by the kernel under the later one's stamp, so a
    stamp is never later than the read's own time and usually much closer to the truth."""

    def __init__(self, sock: socket.socket, exchange: _Exchange) -> None:
        self.sock = sock
        self.exchange = exchange
        self.loop = asyncio.get_running_loop()
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        except OSError:
            pass  # no kernel stamps here: reads are timed when they happen
        self.loop.add_reader(sock.fileno(), self._readable)

    @classmethod
    async def connect(cls, addresses: list[AddressInfo], exchange: _Exchange) -> _KernelStampedSocket:
        loop = asyncio.get_running_loop()
        failure: OSError = OSError("no address to connect to")
        for family, kind, proto, _, address in addresses:
            sock = socket.socket(family, kind, proto)
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, address)
            except OSError as exc:
                sock.close()
                failure = exc
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return cls(sock, exchange)
        raise failure

    async def send(self, data: bytes) -> None:
        await self.loop.sock_sendall(self.sock, data)

    def _readable(self) -> None:
        try:
            peeked = self.sock.recv(READ_SIZE, socket.MSG_PEEK)
            if not peeked:
                self._lost(None)
                return
            clock_offset = time.time() - time.perf_counter()
            start = 0
            for end in event_ends(peeked):
                data, ancillary, _, _ = self.sock.recvmsg(end - start, socket.CMSG_SPACE(TIMESPEC.size))
                stamp = kernel_time(ancillary)
                self.exchange.received(data, time.perf_counter() if stamp is None else stamp - clock_offset)
                start = end
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(exc)

    def _lost(self, exc: Exception | None) -> None:
        self.close()
        self.exchange.connection_lost(exc)

    def close(self) -> None:
        if self.sock.fileno() >= 0:
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()


class _TlsLink:
    """An asyncio TLS connection: reads are timed when the loop hands them to the protocol."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    async def send(self, data: bytes) -> None:
        self.transport.write(data)

    def close(self) -> None:
        self.transport.close()


class RawConnection:
    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.tls = ssl.create_default_context() if parts.scheme == "https" else None
        self.headers = headers
        self._protocol: _Exchange | None = None
        self._link: _KernelStampedSocket | _TlsLink | None = None
        self.idle_since = 0.0
        self._addresses: list[AddressInfo] = []  # resolved once: a lookup runs in a thread and takes ~1 ms

    async def open(self) -> None:
        self.idle_since = time.perf_counter()
        if self.tls is None:
            if not self._addresses:
                self._addresses = await asyncio.get_running_loop().getaddrinfo(self.host, self.port,
                                                                               type=socket.SOCK_STREAM)
            self._protocol = _Exchange()
            self._link = await _KernelStampedSocket.connect(self._addresses, self._protocol)
        else:
            transport, self._protocol = await asyncio.get_running_loop().create_connection(
                _Exchange, self.host, self.port, ssl=self.tls)
            self._link = _TlsLink(transport)

    def close(self) -> None:
        if self._link is not None:
            self._link.close()
        self._protocol, self._link = None, None

    async def ready(self, max_idle_s: float) -> None:
        """Open, or reopen if closed or idle longer than max_idle_s, before a request's clock starts: a server
        closes idle keep-alive connections, and a request sent as it does so fails; one sent after it did
        would count the new connection's set-up in its time to first token."""
        if not self._usable() or time.perf_counter() - self.idle_since > max_idle_s:
            self.close()
            await self.open()

    def _usable(self) -> bool:
        """Open, and not closed by the server since."""
        return self._protocol is not None and self._protocol.lost is None

    def request_bytes(self, path: str, body: bytes, extra_headers: dict[str, str] | None = None) -> bytes:
        lines = [f"POST {path} HTTP/1.1", f"Host: {self.host}:{self.port}", "Content-Type: application/json",
                 f"Content-Length: {len(body)}", "Accept: text/event-stream",
                 *(f"{k}: {v}" for k, v in {**self.headers, **(extra_headers or {})}.items())]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    async def exchange(self, request: bytes) -> TimedResponse:
        """Send a prepared request and wait for the whole response; raises HttpStatusError for non-200."""
        if not self._usable():
            await self.open()
        protocol, link = self._protocol, self._link
        assert protocol is not None and link is not None
        protocol.expect(asyncio.get_running_loop().create_future())
        await link.send(request)
        assert protocol.done is not None
        await protocol.done
        self.idle_since = time.perf_counter()
        response = protocol.response()
        if not response.keep_alive:
            self.close()
        if response.status != 200:
            raise HttpStatusError(response.status, b"".join(chunk for _, chunk in response.chunks))
        return response


class ConnectionPool:
    """Connections opened ahead of the load, handed out one per request in flight."""

    def __init__(self, base_url: str, headers: dict[str, str], size: int) -> None:
        self._idle: asyncio.Queue[RawConnection] = asyncio.Queue()
        self._connections = [RawConnection(base_url, headers) for _ in range(size)]

    async def open(self) -> None:
        await asyncio.gather(*(c.open() for c in self._connections))
        for connection in self._connections:
            self._idle.put_nowait(connection)

    def request_bytes(self, path: str, body: bytes, extra_headers: dict[str, str] | None = None) -> bytes:
        return self._connections[0].request_bytes(path, body, extra_headers)

    async def take(self) -> RawConnection:
        """An idle connection, ready to send on (reopened if stale); raises OSError if it cannot connect."""
        connection = await self._idle.get()
        try:
            await connection.ready(MAX_IDLE_S)
        except OSError:
            self._idle.put_nowait(connection)
            raise
        return connection

    def give_back(self, connection: RawConnection, healthy: bool) -> None:
        if not healthy:
            connection.close()
        self._idle.put_nowait(connection)

    def close(self) -> None:
        for connection in self._connections:
            connection.close()
