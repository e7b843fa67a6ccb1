"""SingleShotTransport: one plain-http request on a socket, answers framed every way HTTP/1.x frames them."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from iotcli.sending.request import Prepared
from iotcli.sending.transport import SendFailure, SingleShotTransport


@pytest.fixture
def raw_server() -> Iterator[tuple[str, list[bytes], list[bytes]]]:
    """A loopback server: answers each connection with the next scripted bytes, records what came in."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    answers: list[bytes] = []
    received: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, rest = data.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                while len(rest) < length:
                    rest += conn.recv(65536)
                received.append(head + b"\r\n\r\n" + rest)
                conn.sendall(answers.pop(0))

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}", answers, received
    srv.close()


def post(url: str, body: bytes = b'{"a":1}') -> Prepared:
    return Prepared("POST", url + "/up?x=1", [("Content-Type", "application/json")], body)


@pytest.mark.parametrize(
    ("raw", "body"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", b"hello"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2;x=y\r\nlo\r\n0\r\n\r\n",
            b"hello",
        ),
        (b"HTTP/1.0 200 OK\r\n\r\nhello", b"hello"),  # ends with the connection
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", b"ok"),
        (b"HTTP/1.1 204 No Content\r\n\r\n", b""),
    ],
)
def test_answers_are_read_whole(
    raw_server: tuple[str, list[bytes], list[bytes]], raw: bytes, body: bytes
) -> None:
    url, answers, received = raw_server
    answers.append(raw)
    answer = SingleShotTransport(timeout=5).send(post(url))
    assert answer.body == body and answer.status in (200, 201, 204)
    request = received[0]
    assert request.startswith(b"POST /up?x=1 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert (
        b"\r\nAccept-Encoding: identity\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n"
        in request
    )
    assert request.endswith(b'{"a":1}')


def test_a_garbled_answer_is_a_failure_not_a_crash(raw_server: tuple[str, list[bytes], list[bytes]]) -> None:
    url, answers, _ = raw_server
    answers.append(b"SSH-2.0-OpenSSH\r\n\r\n")
    with pytest.raises(SendFailure, match="not an HTTP answer"):
        SingleShotTransport(timeout=5).send(post(url))


def test_refused_and_timeout() -> None:
    with pytest.raises(SendFailure, match="connection refused"):
        SingleShotTransport(timeout=5).send(post("http://127.0.0.1:1"))
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)  # accepts, never answers
    try:
        with pytest.raises(SendFailure) as info:
            SingleShotTransport(timeout=0.2).send(post(f"http://127.0.0.1:{srv.getsockname()[1]}"))
        assert info.value.timeout
    finally:
        srv.close()


def test_connects_as_create_connection_does(
    raw_server: tuple[str, list[bytes], list[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each address getaddrinfo gives, in turn (here: a refused one, then the server); with none that
    connects, the last error; with none at all, socket.create_connection's error. (The transport uses
    the ``_socket`` module itself: ``socket.py``'s import costs a single send ~2 ms.)"""
    import _socket

    from iotcli.sending import transport

    url, answers, _ = raw_server
    port = int(url.rsplit(":", 1)[1])
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead = closed.getsockname()
    closed.close()
    stream = (socket.AF_INET, socket.SOCK_STREAM, 6, "")
    monkeypatch.setattr(_socket, "getaddrinfo", lambda *a: [(*stream, dead), (*stream, ("127.0.0.1", port))])
    answers.append(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert SingleShotTransport(timeout=5).send(post("http://example.invalid/")).status == 204
    monkeypatch.setattr(_socket, "getaddrinfo", lambda *a: [(*stream, dead)])
    with pytest.raises(ConnectionRefusedError):
        transport._connect("h", 1, 5)
    monkeypatch.setattr(_socket, "getaddrinfo", lambda *a: [])
    with pytest.raises(OSError, match="getaddrinfo returns an empty list"):
        transport._connect("h", 1, 5)
    with pytest.raises(SendFailure, match="cannot reach h:1: getaddrinfo returns an empty list"):
        SingleShotTransport(timeout=5).send(post("http://h:1/"))
