"""The local CA and server certificate of ``iotcli emulate --tls``."""

from __future__ import annotations

import socket
import ssl
import stat
import threading
from pathlib import Path

import pytest

from iotcli.emulator.tls import ensure_certificates


def _handshake(files, server_name: str) -> str:  # type: ignore[no-untyped-def]
    """Serve one TLS handshake on loopback with the made certificate; connect trusting only the CA file."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(files.cert_file, files.key_file)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def accept() -> None:
        conn, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"ok")
        except (ssl.SSLError, OSError):
            pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    client_ctx = ssl.create_default_context(cafile=str(files.ca_file))
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            client_ctx.wrap_socket(raw, server_hostname=server_name) as tls,
        ):
            return tls.recv(2).decode()
    finally:
        t.join(5)
        listener.close()


def test_a_client_trusting_the_ca_file_verifies_the_server_by_address_and_name(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path / "tls")
    assert _handshake(files, "127.0.0.1") == "ok"
    assert _handshake(files, "localhost") == "ok"
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(files, "example.org")


def test_certificates_are_kept_and_reused_with_private_keys_unreadable_by_others(tmp_path: Path) -> None:
    first = ensure_certificates(tmp_path / "tls")
    ca, cert = first.ca_file.read_bytes(), first.cert_file.read_bytes()
    again = ensure_certificates(tmp_path / "tls")
    assert again.ca_file.read_bytes() == ca and again.cert_file.read_bytes() == cert
    assert stat.S_IMODE(first.key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "tls" / "ca-key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "tls").stat().st_mode) == 0o700


def test_a_new_host_gets_a_new_server_certificate_from_the_same_ca(tmp_path: Path) -> None:
    first = ensure_certificates(tmp_path / "tls")
    ca, cert = first.ca_file.read_bytes(), first.cert_file.read_bytes()
    other = ensure_certificates(tmp_path / "tls", host="iot.local")
    assert other.ca_file.read_bytes() == ca and other.cert_file.read_bytes() != cert
    assert _handshake(other, "iot.local") == "ok"


def test_an_unreadable_server_certificate_is_made_again(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path / "tls")
    files.cert_file.write_text("garbage")
    ensure_certificates(tmp_path / "tls")
    assert _handshake(files, "127.0.0.1") == "ok"
