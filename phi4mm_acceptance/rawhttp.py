"""A minimal HTTP/1.1 client on asyncio protocols, for timing streamed answers with as little client delay
as possible: requests are pre-serialised bytes on connections opened before the clock starts, and every read
from the socket is timestamped the moment the event loop hands it over (`data_received`), before any parsing.
The response is parsed only when it is complete, off the measured path: when many streams deliver at once,
the last one is not timed after the parsing of all the others.
"""
from __future__ import annotations

import asyncio
import bisect
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

CHUNKED_END = b"\r\n0\r\n\r\n"


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
    """Collects one response at a time: raw reads with their arrival times, and completion."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
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

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.read_times.append(time.perf_counter())
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


class RawConnection:
    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.tls = ssl.create_default_context() if parts.scheme == "https" else None
        self.headers = headers
        self._protocol: _Exchange | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        _, self._protocol = await loop.create_connection(_Exchange, self.host, self.port, ssl=self.tls)

    def close(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None

    def request_bytes(self, path: str, body: bytes, extra_headers: dict[str, str] | None = None) -> bytes:
        lines = [f"POST {path} HTTP/1.1", f"Host: {self.host}:{self.port}", "Content-Type: application/json",
                 f"Content-Length: {len(body)}", "Accept: text/event-stream",
                 *(f"{k}: {v}" for k, v in {**self.headers, **(extra_headers or {})}.items())]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    async def exchange(self, request: bytes) -> TimedResponse:
        """Send a prepared request and wait for the whole response; raises HttpStatusError for non-200."""
        if self._protocol is None or self._protocol.lost is not None:
            await self.open()
        protocol = self._protocol
        assert protocol is not None and protocol.transport is not None
        protocol.expect(asyncio.get_running_loop().create_future())
        protocol.transport.write(request)
        assert protocol.done is not None
        await protocol.done
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
        return await self._idle.get()

    def give_back(self, connection: RawConnection, healthy: bool) -> None:
        if not healthy:
            connection.close()
        self._idle.put_nowait(connection)

    def close(self) -> None:
        for connection in self._connections:
            connection.close()
