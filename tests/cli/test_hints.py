"""Hints that fit the failure (issue 17, item 7), typed the way users type the commands."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.conftest import Cli
from tests.harness import run_cli


def failing(message: str, exc: type[httpx.TransportError] = httpx.ConnectError) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc(message, request=request)

    return httpx.MockTransport(handler)


def test_dns_failure_for_a_remote_server_says_so() -> None:
    r = run_cli(
        ["device", "list", "--server", "https://acme.aws.thinger.example", "--token", "t"],
        transport=failing("[Errno -2] Name or service not known"),
    )
    assert r.exit_code == 6
    assert "'acme.aws.thinger.example' does not resolve (DNS)" in r.stderr
    assert "iotcli emulate" not in r.stderr and "check the host" in r.stderr


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (
            "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate",
            "SSL_CERT_FILE",
        ),
        ("[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)", "try http://"),
    ],
)
def test_tls_failure_says_so(text: str, needle: str) -> None:
    r = run_cli(
        ["device", "list", "--server", "https://flow.example", "--token", "t"], transport=failing(text)
    )
    assert r.exit_code == 6 and "TLS failed" in r.stderr and needle in r.stderr
    assert "iotcli emulate" not in r.stderr


def test_refused_remote_server_is_not_told_to_start_an_emulator() -> None:
    r = run_cli(
        ["device", "list", "--server", "http://10.0.0.5:8100", "--token", "t"],
        transport=failing("[Errno 111] Connection refused"),
    )
    assert r.exit_code == 6 and "connection refused" in r.stderr
    assert "iotcli emulate" not in r.stderr and "check --server" in r.stderr


def test_refused_local_server_suggests_the_emulator() -> None:
    r = run_cli(["device", "list"], transport=failing("[Errno 111] Connection refused"))
    assert r.exit_code == 6 and "Start a local one with `iotcli emulate`" in r.stderr


def test_send_uplink_to_an_unresolvable_host_says_dns() -> None:
    # A name in .invalid never resolves (RFC 6761); the resolver answers without the network.
    r = run_cli(["send-uplink", "--url", "http://no-such-host.invalid/up", "a=1"])
    assert r.exit_code == 6, r.stderr
    assert "does not resolve (DNS)" in r.stderr or "connection failed" in r.stderr
    assert "iotcli emulate" not in r.stderr


def test_already_exists_hints_at_update(cli: Cli) -> None:
    assert cli("device", "create", "sensor-1").exit_code == 0
    r = cli("device", "create", "sensor-1")
    assert r.exit_code == 4 and "already exists" in r.stderr
    assert "iotcli device update" in r.stderr
    assert cli("bucket", "create", "b1").exit_code == 0
    r = cli("bucket", "create", "b1", "--json")
    assert "iotcli bucket delete" in json.loads(r.stdout)["error"]["hint"]  # buckets have no update


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:/up", "http://127.0.0.1:x/up", "http://127.0.0.1:70000/up"]
)
def test_destination_with_an_empty_or_bad_port_is_refused(cli: Cli, url: str) -> None:
    r = cli("connection", "create", "app", "--destination", url)
    assert r.exit_code == 2 and "--destination" in r.stderr, r.stderr
    assert cli("connection", "list", "--json").json()["data"] == []


def test_server_with_an_empty_port_is_refused() -> None:
    r = run_cli(["device", "list", "--server", "http://127.0.0.1:"])
    assert r.exit_code == 2 and "empty port" in r.stderr
