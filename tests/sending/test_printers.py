"""--print outputs: each printed command, run against a sink, sends what iotcli itself sends."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from iotcli.sending.printers import describe, mask_url, to_curl, to_httpie, to_python
from iotcli.sending.request import Prepared, RequestPlan, base_headers, json_body
from iotcli.sending.runner import send_one
from iotcli.sending.transport import PooledTransport
from tests.harness import Recorded, Sink

HTTP = shutil.which("http") or (
    str(Path(sys.executable).parent / "http") if (Path(sys.executable).parent / "http").exists() else None
)
BODY = {"temp": 21.5, "name": "kitchen 'A'", "on": True, "loc": {"room": "k"}, "tags": ["a", "b"]}


def make_plan(url: str) -> RequestPlan:
    headers = base_headers("secret-token-123", body=True) + [("X-Site", "A b")]
    return RequestPlan("POST", url + "/v3/users/u/devices/d1/callback/data?ts=5", headers, json_body(BODY))


def make_request(url: str) -> Prepared:
    return make_plan(url).render()


def reference(sink: Sink) -> Recorded:
    """What iotcli itself sends for the same request."""
    assert send_one(make_plan(sink.url), PooledTransport()).ok
    return sink.wait_for(1)[-1]


def same_request(a: Recorded, b: Recorded) -> None:
    assert (a.method, a.path) == (b.method, b.path)
    assert a.json() == b.json()
    for name in ("authorization", "content-type", "x-site"):
        assert a.headers.get(name) == b.headers.get(name), name


def test_printed_curl_sends_the_same_request(sink: Sink) -> None:
    ours = reference(sink)
    command = to_curl(make_request(sink.url))
    subprocess.run(["bash", "-c", command], check=True, capture_output=True, timeout=20)
    same_request(ours, sink.wait_for(2)[-1])


def test_printed_python_sends_the_same_request(sink: Sink, tmp_path: Path) -> None:
    ours = reference(sink)
    script = tmp_path / "send.py"
    script.write_text(to_python(make_request(sink.url)))
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("200 OK")
    same_request(ours, sink.wait_for(2)[-1])


@pytest.mark.skipif(
    HTTP is None, reason="HTTPie ('http') is not installed here; it is not an iotcli dependency"
)
def test_printed_httpie_sends_the_same_request(sink: Sink) -> None:
    ours = reference(sink)
    command = to_httpie(make_request(sink.url))
    assert command.startswith("http ")
    command = f"{HTTP}{command[4:]}"
    subprocess.run(["bash", "-c", command], check=True, capture_output=True, timeout=30)
    same_request(ours, sink.wait_for(2)[-1])


def test_httpie_uses_items_for_flat_json_and_raw_otherwise() -> None:
    req = make_request("http://h")
    assert "temp:=21.5" in to_httpie(req) and "--raw" not in to_httpie(req)
    raw = Prepared("POST", "http://h/x", [("Content-Type", "text/plain")], b"hello world")
    assert "--raw 'hello world'" in to_httpie(raw)


def test_displays_mask_the_token_but_printed_commands_keep_it() -> None:
    req = make_request("http://h")
    assert "secret-token-123" not in describe(req)
    assert "Authorization: Bearer *****" in describe(req)
    assert "secret-token-123" in to_curl(req)
    assert mask_url("http://h/x?authorization=abc&y=1") == "http://h/x?authorization=*****&y=1"


def test_displays_mask_every_secret_the_emulator_masks() -> None:
    """--dry-run and -v follow the one rule of iotcli.models.masking (the journal's and the inspector's):
    before, they masked four header names and three query names, so `X-Device-Secret: s3` or
    `?api_key=k` showed in clear on the CLI while the emulator's journal masked them."""
    req = Prepared(
        "POST",
        "http://u:pw@h/x?api_key=k-123&ts=1&X_Token=t-123",
        [("X-Device-Secret", "s3cr3t-1"), ("Api-Key", "k3y-1"), ("X-Site", "A")],
        b"{}",
    )
    shown = describe(req)
    for secret in ("s3cr3t-1", "k3y-1", "k-123", "t-123", ":pw@"):
        assert secret not in shown, (secret, shown)
    assert "X-Site: A" in shown and "ts=1" in shown and "X-Device-Secret: *****" in shown
    assert "s3cr3t-1" in to_curl(req)  # a printed command is meant to be run: it keeps them
