"""Slow and endless clients (issue 11, item 3) against a real ``iotcli emulate`` process.

uvicorn times out only idle keep-alive connections: a client that trickles its request one byte at a
time, or connects and sends nothing, held its connection forever, and never-finished header blocks
grew the process. ``--request-timeout``, ``--timeout-keep-alive`` and ``--max-header-size`` bound them.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness import EmulatorProcess


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorProcess]:
    proc = EmulatorProcess(
        None, extra=["--request-timeout", "1", "--timeout-keep-alive", "1", "--max-header-size", "16KiB"]
    ).start()
    try:
        yield proc
    finally:
        proc.stop()


def connect(server: EmulatorProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=5)


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """Whether the server closes ``sock`` (EOF or reset) within ``within`` seconds."""
    sock.settimeout(0.1)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if sock.recv(65536) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:
            return True
    return False


def healthy(server: EmulatorProcess) -> bool:
    return httpx.get(f"{server.url}/_emulator/health", timeout=2).status_code == 200


def rss_kib(server: EmulatorProcess) -> int:
    assert server.proc is not None
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_trickling_client_is_cut_off_and_health_stays_up(server: EmulatorProcess) -> None:
    socks = [connect(server) for _ in range(20)]
    started = time.monotonic()
    request = b"GET /_emulator/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
    cut = [False] * len(socks)
    sent = 0
    while not all(cut) and time.monotonic() - started < 6:
        for i, sock in enumerate(socks):
            if cut[i]:
                continue
            try:
                sock.send(request[sent : sent + 1])  # one byte every 50 ms: never a whole request
            except OSError:
                cut[i] = True
        sent += 1
        assert healthy(server)  # the others are served meanwhile
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    assert all(cut) or all(closed_by_server(s, 1) for s in socks), "trickling clients were not cut off"
    assert elapsed < 4, elapsed
    for sock in socks:
        sock.close()
    assert healthy(server)


def test_a_connection_that_sends_nothing_is_closed(server: EmulatorProcess) -> None:
    sock = connect(server)
    try:
        assert closed_by_server(sock, 3)
    finally:
        sock.close()
    assert healthy(server)


def test_an_idle_keep_alive_connection_is_closed(server: EmulatorProcess) -> None:
    sock = connect(server)
    try:
        sock.sendall(b"GET /_emulator/health HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(2)
        assert b"200" in sock.recv(65536).split(b"\r\n")[0]
        assert closed_by_server(sock, 3)
    finally:
        sock.close()


def test_a_whole_request_in_time_is_served_even_when_slow(server: EmulatorProcess) -> None:
    sock = connect(server)
    try:
        for part in (b"GET /_emulator/health HTTP/1.1\r\n", b"Host: x\r\n", b"\r\n"):
            sock.sendall(part)
            time.sleep(0.2)
        sock.settimeout(2)
        assert b"200" in sock.recv(65536).split(b"\r\n")[0]
    finally:
        sock.close()


def test_huge_never_finished_header_blocks_do_not_grow_memory(server: EmulatorProcess) -> None:
    """Four 20 MiB header blocks that never end (no token needed): each is cut off at the header limit."""
    before = rss_kib(server)
    chunk = b"X-Filler: " + b"b" * 65536 + b"\r\n"
    for _ in range(4):
        sock = connect(server)
        sock.sendall(b"GET /_emulator/health HTTP/1.1\r\nHost: x\r\n")
        refused = False
        try:
            for _ in range(20 * 1024 * 1024 // len(chunk)):
                sock.sendall(chunk)
        except OSError:
            refused = True
        if not refused:
            refused = closed_by_server(sock, 3)
        sock.close()
        assert refused, "the server kept reading a header block far over --max-header-size"
    assert rss_kib(server) - before < 20 * 1024, (before, rss_kib(server))
    assert healthy(server)


def test_a_header_block_still_open_past_the_limit_is_400(server: EmulatorProcess) -> None:
    """A header block that has not ended after --max-header-size bytes is refused (counted by the
    emulator's protocol: httptools has no limit of its own)."""
    sock = connect(server)
    try:
        sock.sendall(b"GET /_emulator/health HTTP/1.1\r\nHost: x\r\n")
        answer = b""
        for _ in range(10):
            try:
                sock.sendall(b"X-Part: " + b"c" * 4096 + b"\r\n")
            except OSError:
                break
            time.sleep(0.02)
        sock.settimeout(2)
        answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 400"), answer[:100]
    finally:
        sock.close()
    assert healthy(server)


def test_the_emulator_parses_with_httptools() -> None:
    """The guarded protocol is built on uvicorn's httptools protocol (a fifth less CPU per forwarded uplink
    than h11, docs/performance.md), so the header limit above is the emulator's own count."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    from iotcli.emulator.server import guarded_protocol

    assert issubclass(guarded_protocol(5.0, 16 * 1024), HttpToolsProtocol)
