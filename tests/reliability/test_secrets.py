"""Secrets: stored as hashes where the contract does not need them back, compared in constant time, and never
in the emulator's log, the event journal or the delivery records; config files 0600; a non-loopback --host
warns, and refuses to run with a generated token.
"""

from __future__ import annotations

import base64
import hmac
import json
import stat
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from iotcli.config import config_path, discovery_dir
from tests.harness import TEST_TOKEN, EmulatorProcess, InProcessEmulator, Reply, Sink, run_cli

DEVEUI = "0024AEB3C02BE1C4"
HEADER_SECRET = "hdr-secret-1f0c3e5a9b"
API_KEY_SECRET = "apikey-secret-77aa01"
X_TOKEN_SECRET = "xtoken-secret-3c3c3c"
AS_KEY = "askey-secret-0123456789abcdef0123"
PROXY_PASSWORD = "proxy-pass-9e8d7c6b"
TIAK = "bec499c69e9c939e413b663961636c61"
ENDPOINT_SECRET = "endpoint-secret-5a5a5a"


def run_with_secrets(emu: EmulatorProcess, proxy: Sink, endpoint_sink: Sink) -> dict[str, str]:
    """Use every kind of secret once; return the issued tokens (secrets the emulator made)."""
    issued: dict[str, str] = {}
    with emu.client() as c:
        assert c.post(
            "/v1/users/local/buckets",
            json={"bucket": "b1", "name": "b1", "enabled": True, "config": {"source": "write"}},
        ).is_success
        assert c.post("/v1/users/local/devices", json={"device": "d1", "type": "HTTP"}).is_success
        r = c.post(
            "/v1/users/local/endpoints",
            json={
                "endpoint": "e1",
                "type": "http_request",
                "config": {
                    "url": f"{endpoint_sink.url}/hook",
                    "method": "POST",
                    "headers": [{"key": "Authorization", "value": f"Bearer {ENDPOINT_SECRET}"}],
                    "body_type": "json",
                },
            },
        )
        assert r.is_success, r.text
        r = c.put(
            "/v3/users/local/devices/d1/callback",
            json={"actions": {"write_bucket": "b1", "call_endpoint": "e1"}},
        )
        assert r.is_success, r.text
        r = c.post("/v1/users/local/devices/d1/tokens", json={"token_name": "t"})
        assert r.is_success, r.text
        issued["device"] = r.json()["token"]
        # Device token ingest, in the header and in the query (the query ends up in access logs).
        ingest = "/v3/users/local/devices/d1/callback/data"
        assert c.post(
            ingest, json={"t": 1}, headers={"Authorization": f"Bearer {issued['device']}"}
        ).is_success
        assert c.post(
            ingest, json={"t": 2}, params={"authorization": issued["device"]}, headers={"Authorization": ""}
        )
        form = {"grant_type": "password", "username": "local", "password": emu.token}
        issued["oauth"] = c.post("/oauth/token", data=form, headers={"Authorization": ""}).json()[
            "access_token"
        ]
        assert c.get(
            "/v1/users/local/devices",
            params={"authorization": issued["oauth"]},
            headers={"Authorization": ""},
        )
        form = {"grant_type": "client_credentials", "client_id": "local", "client_secret": emu.token}
        r = c.post("/iot-flow/v1/oauth/token", data=form, headers={"Authorization": ""})
        issued["iotflow"] = r.json()["access_token"]
        r = c.post(
            "/iot-flow/v1/connections",
            headers={"Authorization": f"Bearer {issued['iotflow']}"},
            json={
                "connectorId": "actility-http-iot",
                "name": "secret",
                "configuration": {
                    # Never contacted: the proxy (a local sink) answers for it.
                    "destinationURL": "http://127.0.0.1:9/uplinks",
                    "headers": {
                        "Authorization": f"Bearer {HEADER_SECRET}",
                        "X-Api-Key": API_KEY_SECRET,
                        "X-Token": X_TOKEN_SECRET,
                    },
                    "proxy": {
                        "hostname": f"127.0.0.1:{proxy.port}",
                        "username": "u",
                        "password": PROXY_PASSWORD,
                    },
                    "lrcCompliance": True,
                    "tiak": TIAK,
                    "downlinkAsId": "as1",
                    "downlinkAsKey": AS_KEY,
                },
            },
        )
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        dl_path = urlsplit(r.json()["downlinkUrl"]).path  # its downlink UUID is not its id
        shown = json.dumps(c.get(f"/iot-flow/v1/connections/{cid}").json())
        assert AS_KEY not in shown and PROXY_PASSWORD not in shown and TIAK not in shown
        downlink = {"DevEUI": DEVEUI, "FPort": 2, "payload_hex": "01", "AS_ID": "as1", "AS_KEY": AS_KEY}
        r = c.post(dl_path, json={"DevEUI_downlink": downlink})
        assert r.status_code == 202, r.text
        bad = {**downlink, "AS_KEY": AS_KEY[::-1]}
        assert c.post(dl_path, json={"DevEUI_downlink": bad}).status_code == 401
        r = c.post("/_emulator/lorawan/uplinks", json={"DevEUI": DEVEUI, "FPort": 1, "payload_hex": "00"})
        assert r.status_code == 202, r.text
    proxy.wait_for(2)  # the uplink and its downlink report
    endpoint_sink.wait_for(2)
    return issued


def journals(emu: EmulatorProcess) -> str:
    with emu.client() as c:
        events = c.get("/_emulator/events", params={"limit": 10000}).json()
        listing = c.get("/_emulator/deliveries", params={"limit": 10000}).json()
        shown = [c.get(f"/_emulator/deliveries/{d['id']}").json() for d in listing]
    return json.dumps([events, listing, shown])


def test_no_secret_in_log_events_or_delivery_records(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with Sink(default=Reply(200, b"{}")) as proxy, Sink(default=200) as endpoint_sink:
        emu = EmulatorProcess(state, extra=["--log-level", "info", "--time-scale", "0.01"]).start()
        try:
            issued = run_with_secrets(emu, proxy, endpoint_sink)
            recorded = journals(emu)
        finally:
            emu.stop()
        out, err = emu.output()
        # The secrets did their jobs: the proxy saw its credentials, the destination its headers.
        forwarded = next(r for r in proxy.requests if b"DevEUI_uplink" in r.body)
        assert (
            forwarded.headers["proxy-authorization"]
            == "Basic " + base64.b64encode(f"u:{PROXY_PASSWORD}".encode()).decode()
        )
        assert forwarded.headers["authorization"] == f"Bearer {HEADER_SECRET}"
        assert forwarded.headers["x-token"] == X_TOKEN_SECRET
        assert endpoint_sink.requests[0].headers["authorization"] == f"Bearer {ENDPOINT_SECRET}"

    secrets = {
        **issued,
        "header": HEADER_SECRET,
        "api_key": API_KEY_SECRET,
        "x_token": X_TOKEN_SECRET,
        "as_key": AS_KEY,
        "proxy_password": PROXY_PASSWORD,
        "tiak": TIAK,
        "endpoint": ENDPOINT_SECRET,
    }
    log = out + err
    assert "GET /v1/users/local/devices" in log or "POST /v3" in log  # the access log is on
    for name, secret in secrets.items():
        assert secret not in log, f"{name} in the emulator's log"
        assert secret not in recorded, f"{name} in the journals"
    assert "Bearer *****" in recorded  # Authorization headers are shown masked
    # The account token is printed once, in the start banner (the contract wants it there), nowhere else.
    assert log.count(emu.token) == 1

    # Issued tokens are kept as SHA-256 hashes only: not in the database, its WAL or anything beside it.
    stored = b"".join(p.read_bytes() for p in state.iterdir() if p.is_file())
    for name in ("device", "oauth", "iotflow"):
        assert issued[name].encode() not in stored, f"{name} token stored in clear"
    assert AS_KEY.encode() not in stored, "downlinkAsKey stored in clear (it is kept sealed)"


def test_tokens_are_compared_in_constant_time(
    emulator: InProcessEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from iotcli.emulator import auth

    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    assert emulator.http.get("/_emulator/clock").status_code == 200
    assert (
        emulator.anon("GET", "/_emulator/clock", headers={"Authorization": "Bearer nope"}).status_code == 401
    )
    form = {"grant_type": "password", "username": "local", "password": "wrong"}
    assert emulator.anon("POST", "/oauth/token", data=form).status_code == 401
    # Every comparison is between SHA-256 digests (or the user names), never the raw token.
    assert len(calls) >= 3
    for a, b in calls:
        assert TEST_TOKEN not in (a, b) and TEST_TOKEN.encode() not in (a, b)

    def tokens(conn):  # type: ignore[no-untyped-def]
        return [dict(r) for r in conn.execute("SELECT * FROM tokens")]

    r = emulator.http.post("/v1/users/local/devices", json={"device": "d1"})
    assert r.status_code == 200
    secret = emulator.http.post("/v1/users/local/devices/d1/tokens", json={"token_name": "t"}).json()["token"]
    rows = emulator.run(emulator.emu.store.read(tokens))
    assert rows and all(len(r["hash"]) == 64 for r in rows)
    assert secret not in json.dumps(rows)


def test_config_and_discovery_files_are_0600(tmp_path: Path) -> None:
    r = run_cli(["--profile", "p", "config", "set", "token", "secret-token-123456"])
    assert r.exit_code == 0, r.stderr
    assert stat.S_IMODE(config_path().stat().st_mode) == 0o600
    with EmulatorProcess(None):
        files = list(discovery_dir().glob("*.json"))
        assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)


def test_non_loopback_host_warns_and_needs_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    from iotcli.emulator import server

    bound: list[tuple[str, int]] = []
    served: list[str] = []

    real_bind = server.bind_socket

    def fake_bind(host: str, port: int):  # type: ignore[no-untyped-def]
        bound.append((host, port))
        return real_bind("127.0.0.1", 0)  # never listen beyond this machine in a test

    monkeypatch.setattr(server, "bind_socket", fake_bind)
    monkeypatch.setattr(server, "serve", lambda settings, sock, **kw: served.append(settings.host))

    # Without a token of the user's own: refused before anything listens.
    r = run_cli(["emulate", "--host", "0.0.0.0", "--in-memory", "--port", "0"])
    assert r.exit_code == 2 and "--token" in r.stderr and "Traceback" not in r.stderr
    assert bound == [] and served == []
    r = run_cli(["emulate", "--host", "192.168.1.20", "--in-memory", "--port", "0"])
    assert r.exit_code == 2 and bound == []

    # With --token (or IOTCLI_EMULATOR_TOKEN): runs, with a warning on stderr.
    r = run_cli(
        ["emulate", "--host", "0.0.0.0", "--in-memory", "--port", "0", "--token", "my-own-secret-token"]
    )
    assert r.exit_code == 0, r.stderr
    assert "warning" in r.stderr.lower() and "0.0.0.0" in r.stderr
    assert served == ["0.0.0.0"]
    r = run_cli(
        ["emulate", "--host", "0.0.0.0", "--in-memory", "--port", "0"],
        env={"IOTCLI_EMULATOR_TOKEN": "my-own-secret-token"},
    )
    assert r.exit_code == 0 and "warning" in r.stderr.lower()

    # Loopback needs neither.
    for host in ("127.0.0.1", "localhost", "::1"):
        r = run_cli(["emulate", "--host", host, "--in-memory", "--port", "0"])
        assert r.exit_code == 0, r.stderr
        assert "warning" not in r.stderr.lower()


def test_the_data_dir_is_private(tmp_path: Path) -> None:
    """The database holds the connection secrets the emulator must use: only its user may read it."""
    state = tmp_path / "state"
    with EmulatorProcess(state) as emu, emu.client() as c:
        body = {
            "connectorId": "actility-http-iot",
            "name": "c",
            "configuration": {"destinationURL": "http://127.0.0.1:9/x", "downlinkAsKey": AS_KEY},
        }
        assert c.post("/iot-flow/v1/connections", json=body).status_code == 201
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
        files = [p for p in state.iterdir() if p.name.startswith("emulator.db")]
        assert {p.name for p in files} >= {"emulator.db", "emulator.db-wal"}
        for p in files:
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p.name


def test_issued_tokens_never_start_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    """A token starting with '-' is taken for an option by many command lines: such draws are redrawn."""
    from iotcli.emulator import auth

    draws = iter(["-first", "_second"])
    monkeypatch.setattr(auth.secrets, "token_urlsafe", lambda n: next(draws))
    assert auth.new_secret() == "_second"
