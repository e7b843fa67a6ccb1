"""iotcli device token create|list|revoke and device callback show|set; error exit codes."""

from __future__ import annotations

import httpx
import respx

from tests.conftest import Cli
from tests.harness import InProcessEmulator, free_port, run_cli

CB = "/v3/users/local/devices/{}/callback/data"


def test_token_create_list_revoke(cli: Cli, emulator: InProcessEmulator) -> None:
    cli("device", "create", "t1")
    r = cli("device", "token", "create", "t1", "--name", "field-unit")
    assert r.exit_code == 0, r.stderr
    fields = dict(line.split(None, 1) for line in r.stdout.splitlines())
    assert fields["name"] == "field-unit" and fields["token"] and fields["id"]
    assert "shown only this once" in r.stderr
    second = cli("--json", "device", "token", "create", "t1").json()["data"]
    assert set(second) >= {"id", "name", "token"} and second["name"] == "callback"

    listed = cli("--json", "device", "token", "list", "t1").json()["data"]
    assert sorted(t["name"] for t in listed) == ["callback", "field-unit"]
    assert all("token" not in t for t in listed)  # secrets are never listed
    r = cli("device", "token", "list", "t1")
    assert r.stdout.splitlines()[0].split("\t") == ["ID", "NAME", "CREATED", "EXPIRES", "LAST USED"]
    assert fields["token"] not in r.stdout

    headers = {"Authorization": f"Bearer {fields['token']}"}
    assert emulator.anon("POST", CB.format("t1"), headers=headers, json={"a": 1}).status_code == 200
    r = cli("device", "token", "revoke", "t1", fields["id"], "--yes")
    assert r.exit_code == 0 and "revoked" in r.stderr
    assert emulator.anon("POST", CB.format("t1"), headers=headers, json={"a": 1}).status_code in (401, 403)
    r = cli("--json", "device", "token", "revoke", "t1", second["id"], "-y")
    assert r.json() == {"data": {"device": "t1", "id": second["id"], "revoked": True}}
    assert cli("--json", "device", "token", "list", "t1").json()["data"] == []
    assert cli("device", "token", "revoke", "t1", "nope", "--yes").exit_code == 4
    assert cli("device", "token", "create", "ghost").exit_code == 4


def test_token_with_expiry(cli: Cli) -> None:
    cli("device", "create", "t2")
    r = cli("--json", "device", "token", "create", "t2", "--expires", "2099-01-01T00:00:00Z")
    assert r.exit_code == 0, r.stdout + r.stderr
    listed = cli("--json", "device", "token", "list", "t2").json()["data"]
    assert listed[0]["expires"] is not None
    assert cli("device", "token", "create", "t2", "--expires", "soon").exit_code == 2


def test_callback_show_and_set_merge(cli: Cli) -> None:
    cli("device", "create", "c1")
    cli("bucket", "create", "b1")
    cli("endpoint", "create", "e1", "--url", "http://127.0.0.1:9/hook")
    r = cli("device", "callback", "set", "c1", "--bucket", "b1", "--timeout", "7")
    assert r.exit_code == 0, r.stderr
    r = cli("--json", "device", "callback", "set", "c1", "--endpoint", "e1", "--property", "last")
    assert r.exit_code == 0, r.stderr
    data = r.json()["data"]
    assert data["actions"] == {"write_bucket": "b1", "call_endpoint": "e1", "set_property": "last"}
    assert data["properties"]["timeout"] == 7  # kept from the first call
    assert data["callback_url"].endswith(CB.format("c1"))

    r = cli("device", "callback", "show", "c1")
    fields = dict(line.split(None, 1) for line in r.stdout.splitlines())
    assert fields["write_bucket"] == "b1" and fields["call_endpoint"] == "e1" and fields["timeout"] == "7 min"
    assert fields["send_property"] == "-" and fields["callback_url"].endswith(CB.format("c1"))

    r = cli("--json", "device", "callback", "set", "c1", "--endpoint", "", "--response-property", "cmd")
    assert r.json()["data"]["actions"] == {
        "write_bucket": "b1",
        "set_property": "last",
        "send_property": "cmd",
    }
    shown = cli("--json", "device", "callback", "show", "c1").json()["data"]
    assert "call_endpoint" not in shown["actions"] or not shown["actions"]["call_endpoint"]


def test_callback_errors(cli: Cli) -> None:
    cli("device", "create", "c2")
    r = cli("device", "callback", "set", "c2")
    assert r.exit_code == 2 and "nothing to change" in r.stderr
    r = cli("device", "callback", "set", "c2", "--bucket", "missing")
    assert r.exit_code == 4 and "missing" in r.stderr  # a named bucket must exist
    assert cli("device", "callback", "show", "ghost").exit_code == 4
    assert cli("device", "callback", "set", "c2", "--bucket", "bad id").exit_code == 2


API = "http://api.test"


@respx.mock
def test_server_errors_and_network_errors() -> None:
    respx.get(f"{API}/v1/users/local/devices").mock(
        return_value=httpx.Response(500, json={"error": {"message": "database is sad"}})
    )
    r = run_cli(["--server", API, "--token", "t", "device", "list"])
    assert r.exit_code == 5 and "database is sad" in r.stderr and "Traceback" not in r.stderr
    respx.get(f"{API}/v1/users/local/devices/d1/stats").mock(
        return_value=httpx.Response(401, json={"error": {"message": "bad token"}})
    )
    r = run_cli(["--server", API, "--token", "t", "device", "stats", "d1"])
    assert r.exit_code == 4 and "bad token" in r.stderr


def test_network_error_exit_code() -> None:
    server = f"http://127.0.0.1:{free_port()}"
    r = run_cli(["--server", server, "--token", "t", "device", "list"])
    assert r.exit_code == 6 and "connection refused" in r.stderr
    r = run_cli(["--json", "--server", server, "--token", "t", "device", "create", "d1", "--bucket", "b"])
    assert r.exit_code == 6 and r.json()["error"]["code"] == "network"


@respx.mock
def test_create_uses_only_contract_paths_in_order() -> None:
    """Against any server that speaks the contract: the calls device create makes, and their bodies."""
    base = f"{API}/v1/users/acme"
    respx.get(f"{base}/buckets/b1").mock(return_value=httpx.Response(404, json={"error": {"message": "no"}}))
    mk_bucket = respx.post(f"{base}/buckets").mock(return_value=httpx.Response(200, json={"bucket": "b1"}))
    mk_dev = respx.post(f"{base}/devices").mock(return_value=httpx.Response(200, json={"device": "d1"}))
    put_cb = respx.put(f"{API}/v3/users/acme/devices/d1/callback").mock(return_value=httpx.Response(200))
    mk_tok = respx.post(f"{base}/devices/d1/tokens").mock(
        return_value=httpx.Response(200, json={"id": "k1", "name": "callback", "token": "SECRET"})
    )
    r = run_cli(
        ["--json", "--server", API, "--user", "acme", "--token", "t", "device", "create", "d1",
         "--bucket", "b1", "--property", "p", "--response-property", "r", "--timeout", "5", "--with-token"]
    )  # fmt: skip
    assert r.exit_code == 0, r.stdout + r.stderr
    import json

    assert json.loads(mk_bucket.calls[0].request.content) == {
        "bucket": "b1", "name": "b1", "enabled": True, "config": {"source": "write"},
    }  # fmt: skip
    assert json.loads(mk_dev.calls[0].request.content) == {"device": "d1", "type": "HTTP"}
    assert json.loads(put_cb.calls[0].request.content) == {
        "actions": {"write_bucket": "b1", "set_property": "p", "send_property": "r"},
        "properties": {"timeout": 5},
    }
    assert json.loads(mk_tok.calls[0].request.content) == {"token_name": "callback"}
    data = r.json()["data"]
    assert data["callback_url"] == f"{API}/v3/users/acme/devices/d1/callback/data"
    assert "Authorization: Bearer SECRET" in data["curl"]


@respx.mock
def test_create_rolls_back_when_the_token_fails() -> None:
    base = f"{API}/v1/users/acme"
    respx.get(f"{base}/buckets/b1").mock(return_value=httpx.Response(404, json={"error": {"message": "no"}}))
    respx.post(f"{base}/buckets").mock(return_value=httpx.Response(200, json={"bucket": "b1"}))
    respx.post(f"{base}/devices").mock(return_value=httpx.Response(200, json={"device": "d1"}))
    respx.put(f"{API}/v3/users/acme/devices/d1/callback").mock(return_value=httpx.Response(200, json={}))
    respx.post(f"{base}/devices/d1/tokens").mock(
        return_value=httpx.Response(503, json={"error": {"message": "token service down"}})
    )
    del_dev = respx.delete(f"{base}/devices/d1").mock(return_value=httpx.Response(200, json={}))
    del_bucket = respx.delete(f"{base}/buckets/b1").mock(return_value=httpx.Response(200, json={}))
    r = run_cli(
        [
            "--server",
            API,
            "--user",
            "acme",
            "--token",
            "t",
            "device",
            "create",
            "d1",
            "--bucket",
            "b1",
            "--with-token",
        ]
    )
    assert r.exit_code == 5 and "token service down" in r.stderr
    assert del_dev.called and del_bucket.called
    assert "device 'd1' removed again" in r.stderr
