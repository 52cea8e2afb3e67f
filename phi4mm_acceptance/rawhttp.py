"""A minimal HTTP/1.1 client on asyncio streams, for timing streamed answers with as little client delay
as possible: requests are pre-serialised bytes on connections opened before the clock starts, and each
chunk is timed the moment its bytes are complete (before any parsing).
"""
from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit


class HttpStatusError(RuntimeError):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:200]!r}")
        self.status = status


class RawConnection:
    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.tls = ssl.create_default_context() if parts.scheme == "https" else None
        self.headers = headers
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, ssl=self.tls)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    def request_bytes(self, path: str, body: bytes, extra_headers: dict[str, str] | None = None) -> bytes:
        lines = [f"POST {path} HTTP/1.1", f"Host: {self.host}:{self.port}", "Content-Type: application/json",
                 f"Content-Length: {len(body)}", "Accept: text/event-stream",
                 *(f"{k}: {v}" for k, v in {**self.headers, **(extra_headers or {})}.items())]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    async def stream(self, request: bytes) -> AsyncIterator[tuple[float, bytes]]:
        """Send a prepared request; yield (perf_counter time, body bytes) as each body chunk completes."""
        if self.reader is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines if h)}
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._chunked()
        else:
            body = self._sized(int(headers.get("content-length", "0")))
        if status != 200:
            data = b"".join([chunk async for _, chunk in body])
            raise HttpStatusError(status, data)
        async for item in body:
            yield item
        if headers.get("connection", "").lower() == "close":
            self.close()

    async def _chunked(self) -> AsyncIterator[tuple[float, bytes]]:
        assert self.reader is not None
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return
            data = await self.reader.readexactly(size + 2)
            yield time.perf_counter(), data[:-2]

    async def _sized(self, length: int) -> AsyncIterator[tuple[float, bytes]]:
        assert self.reader is not None
        data = await self.reader.readexactly(length)
        yield time.perf_counter(), data


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
