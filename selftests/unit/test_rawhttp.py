"""The load generator's HTTP client: chunk framing, arrival times from the kernel, errors, keep-alive."""
from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from phi4mm_acceptance.performance.rawhttp import (
    MAX_IDLE_S,
    SO_TIMESTAMPNS,
    TIMESPEC,
    ConnectionPool,
    HttpStatusError,
    RawConnection,
    event_ends,
    kernel_time,
)

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


async def exchanges(*paths: str, tls: ssl.SSLContext | None = None) -> list[object]:
    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    connection = RawConnection(f"{'https' if tls else 'http'}://127.0.0.1:{port}", {})
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


@pytest.fixture
def server_tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    """A self-signed certificate for 127.0.0.1, trusted by the client through SSL_CERT_FILE."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1"],
                   check=True, capture_output=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def test_https_endpoints_are_timed_at_the_read(server_tls: ssl.SSLContext) -> None:
    (response,) = asyncio.run(exchanges("/stream", tls=server_tls))
    assert [body for _, body in response.chunks] == [b"first!", b"second!", b"third"]
    times = [t for t, _ in response.chunks]
    assert times[1] - times[0] >= 2 * GAP_S * 0.9 and times[2] - times[1] >= GAP_S * 0.9


def test_errors_are_status_errors_or_connection_errors() -> None:
    missing, cut, after = asyncio.run(exchanges("/missing", "/cut", "/stream"))
    assert isinstance(missing, HttpStatusError) and missing.status == 404 and "not found" in str(missing)
    assert isinstance(cut, OSError)
    assert [body for _, body in after.chunks][-1] == b"third"  # a dead connection is reopened


def test_reads_are_split_after_each_event() -> None:
    assert event_ends(b"data: 1\n\n\r\n9\r\ndata: 2\n\n") == [9, 23]
    assert event_ends(b"5\r\ndata") == [7]
    assert event_ends(b"data: 1\n\n") == [9]


LATE_S, BUSY_S = 0.3, 0.15


def late_stream_server(listener: socket.socket, sent_at: list[float]) -> None:
    """One event at once, the next LATE_S later: the first lands while the client's loop is busy."""
    connection, _ = listener.accept()
    with connection:
        connection.recv(65536)
        sent_at.append(time.perf_counter())
        connection.sendall(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n9\r\ndata: 1\n\n\r\n")
        time.sleep(LATE_S)
        connection.sendall(b"9\r\ndata: 2\n\n\r\n0\r\n\r\n")


@contextlib.contextmanager
def kernel_stamps_on() -> Iterator[None]:
    """Held open until the kernel stamps packets on arrival: it turns stamping on in deferred work after the
    first socket asks (net_enable_timestamp), and until then stamps a packet when it is read. The load
    generator opens its connections before the clock starts; this test's must not race that work either."""
    receiver, sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with receiver, sender:
        receiver.bind(("127.0.0.1", 0))
        receiver.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        for _ in range(250):
            sender.sendto(b"x", receiver.getsockname())
            time.sleep(0.02)
            _, ancillary, _, _ = receiver.recvmsg(16, socket.CMSG_SPACE(TIMESPEC.size))
            stamp = kernel_time(ancillary)
            if stamp is not None and time.time() - stamp > 0.01:
                break
        yield


@pytest.mark.quiet_machine
def test_a_busy_client_still_dates_a_chunk_by_its_arrival() -> None:
    with kernel_stamps_on():
        dated_by_arrival()


def dated_by_arrival() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    sent_at: list[float] = []  # when the server sent the first event (same process, same clock)
    server = threading.Thread(target=late_stream_server, args=(listener, sent_at), daemon=True)
    server.start()

    async def exchange() -> list[float]:
        connection = RawConnection(f"http://127.0.0.1:{listener.getsockname()[1]}", {})
        await connection.open()
        asyncio.get_running_loop().call_soon(time.sleep, BUSY_S)  # the loop is stuck once the request is out
        response = await connection.exchange(connection.request_bytes("/late", b"{}"))
        connection.close()
        return [t for t, _ in response.chunks]

    try:
        first, second = asyncio.run(exchange())
    finally:
        server.join(5)
        listener.close()
    # dated on arrival, not when the stuck loop got to it (the server thread's own start-up delay not counted)
    assert first - sent_at[0] < BUSY_S / 2
    assert second - first > LATE_S * 0.8


def test_a_connection_the_server_closed_for_idleness_is_reopened_before_the_clock_starts() -> None:
    """The server hangs up on a connection idle for 0.1 s (as uvicorn does after VLLM_HTTP_TIMEOUT_KEEP_ALIVE):
    taking it from the pool reconnects before the request is timed; a fresh one is not reopened."""
    accepted = 0

    async def idle_closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        try:
            await asyncio.wait_for(serve(reader, writer), 0.1)
        except TimeoutError:
            writer.close()

    async def scenario() -> list[int]:
        server = await asyncio.start_server(idle_closing, "127.0.0.1", 0)
        pool = ConnectionPool(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", {}, 1)
        await pool.open()
        seen = []
        for pause in (0.0, MAX_IDLE_S + 0.3):  # the second pause outlasts the server's patience and MAX_IDLE_S
            await asyncio.sleep(pause)
            connection = await pool.take()
            await asyncio.sleep(0.05)  # the server's accept runs on this same loop
            seen.append(accepted)  # connections the server has seen before the request is sent
            with contextlib.suppress(HttpStatusError):  # a quick answer: 404
                await connection.exchange(connection.request_bytes("/missing", b"{}"))
            pool.give_back(connection, healthy=True)
        pool.close()
        server.close()
        return seen

    assert asyncio.run(scenario()) == [1, 2]
