"""The load generator's HTTP client: chunk framing, arrival times taken at the read, errors, keep-alive."""
from __future__ import annotations

import asyncio

from phi4mm_acceptance.rawhttp import HttpStatusError, RawConnection

GAP_S = 0.05


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """/stream: three chunks 50 ms apart, the middle one written in two halves; /missing: 404; /cut: dies."""
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
        await reader.readexactly(length)
        path = head.split(b" ")[1]
        if path == b"/missing":
            writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\n\r\nnot found")
            continue
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        writer.write(b"6\r\nfirst!\r\n")
        await writer.drain()
        await asyncio.sleep(GAP_S)
        writer.write(b"7\r\nsec")
        await writer.drain()
        if path == b"/cut":
            writer.close()
            return
        await asyncio.sleep(GAP_S)
        writer.write(b"ond!\r\n")
        await writer.drain()
        await asyncio.sleep(GAP_S)
        writer.write(b"5\r\nthird\r\n0\r\n\r\n")
        await writer.drain()


async def exchanges(*paths: str) -> list[object]:
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    connection = RawConnection(f"http://127.0.0.1:{port}", {})
    await connection.open()
    results: list[object] = []
    try:
        for path in paths:
            try:
                results.append(await connection.exchange(connection.request_bytes(path, b"{}")))
            except (HttpStatusError, OSError) as exc:
                results.append(exc)
    finally:
        connection.close()
        server.close()
    return results


def test_chunks_are_framed_and_timed_when_their_last_byte_arrives() -> None:
    first, again = asyncio.run(exchanges("/stream", "/stream"))  # the second on the same connection
    for response in (first, again):
        assert [body for _, body in response.chunks] == [b"first!", b"second!", b"third"]
        times = [t for t, _ in response.chunks]
        assert times[1] - times[0] >= 2 * GAP_S * 0.9  # the split chunk is timed at its second half
        assert times[2] - times[1] >= GAP_S * 0.9


def test_errors_are_status_errors_or_connection_errors() -> None:
    missing, cut, after = asyncio.run(exchanges("/missing", "/cut", "/stream"))
    assert isinstance(missing, HttpStatusError) and missing.status == 404 and "not found" in str(missing)
    assert isinstance(cut, OSError)
    assert [body for _, body in after.chunks][-1] == b"third"  # a dead connection is reopened
