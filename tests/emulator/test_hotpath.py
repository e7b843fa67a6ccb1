"""The hot routes' short way (``hotpath.py``): the same answers as the long way, without the middleware."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from starlette.types import Receive, Scope, Send

from iotcli.emulator.hotpath import EmulatorApp, PathMatcher
from iotcli.emulator.settings import EmulatorSettings
from iotcli.emulator.thinger import callback
from tests.emulator.thinger_helpers import (
    V3,
    create_bucket,
    create_device,
    device_token,
    error,
    post_data,
    records,
    set_callback,
)
from tests.harness import TEST_TOKEN, InProcessEmulator

DATA = "/v3/users/{user}/devices/{device}/callback/data"


def test_path_matcher_takes_exactly_the_template() -> None:
    m = PathMatcher(DATA)
    assert m.match("/v3/users/local/devices/d-1/callback/data") == {"user": "local", "device": "d-1"}
    assert m.match("/v3/users/local/devices//callback/data") is None  # an empty parameter
    assert m.match("/v3/users/local/devices/d1/callback") is None
    assert m.match("/v3/users/local/devices/d1/x/callback/data") is None
    assert m.match("/v1/users/local/devices/d1/callback/data") is None
    assert m.match("/v3/users/local/devices/d1/callback/data/") is None
    assert PathMatcher("/_emulator/lorawan/uplinks").match("/_emulator/lorawan/uplinks") == {}


def test_the_hot_routes_are_the_two_ingress_routes(emulator: InProcessEmulator) -> None:
    app = emulator.app
    assert isinstance(app, EmulatorApp)
    assert sorted((method, m.segments[-1]) for method, m, _h in app.hot) == [
        ("POST", "data"),
        ("POST", "uplinks"),
    ]


class Refuse:
    """Stands in for Starlette's middleware stack: any request that reaches it fails the test."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.seen.append(f"{scope.get('method')} {scope.get('path')}")
        raise AssertionError("went the long way")


@pytest.fixture
def device(emulator: InProcessEmulator) -> Iterator[str]:
    create_device(emulator, "d1")
    create_bucket(emulator, "b1")
    set_callback(emulator, "d1", write_bucket="b1", set_property="last", send_property="cmd")
    emulator.http.put(f"{V3}/devices/d1/properties/cmd", json={"value": {"led": "on"}})
    yield str(device_token(emulator, "d1")["token"])


def test_ingest_goes_the_short_way_with_the_full_effect(emulator: InProcessEmulator, device: str) -> None:
    app = emulator.app
    long_way = app.middleware_stack
    refuse = Refuse()
    app.middleware_stack = refuse
    try:
        r = post_data(emulator, {"ts": 1_700_000_000_000, "t": 21.5}, token=device)
        denied = post_data(emulator, {"t": 1}, token="not-a-token")
    finally:
        app.middleware_stack = long_way
    assert refuse.seen == []
    assert r.status_code == 200 and r.json() == {"led": "on"}
    assert r.headers["content-type"] == "application/json"
    assert [rec["val"] for rec in records(emulator)] == [{"t": 21.5}]
    assert denied.status_code == 401 and error(denied) == "invalid token"


def test_other_methods_and_bodies_without_length_go_the_long_way(
    emulator: InProcessEmulator, device: str
) -> None:
    url = f"{V3}/devices/d1/callback/data"
    headers = {"Authorization": f"Bearer {device}", "Content-Type": "application/json"}

    def chunks() -> Iterator[bytes]:
        yield b'{"ts": 1700000000001, '
        yield b'"t": 22}'

    r = emulator.anon("POST", url, content=chunks(), headers=headers)  # chunked: no Content-Length
    assert r.status_code == 200 and r.json() == {"led": "on"}
    r = emulator.anon("GET", url, headers=headers)
    assert r.status_code == 200 and r.json() == {"led": "on"}
    r = emulator.anon("PUT", url, json={}, headers=headers)
    assert r.status_code == 405
    assert [rec["val"] for rec in records(emulator)] == [{"t": 22}]


def test_a_body_over_the_limit_is_413_on_a_hot_route() -> None:
    settings = EmulatorSettings(data_dir=None, token=TEST_TOKEN, max_body=1024)
    with InProcessEmulator(settings) as emu:
        create_device(emu, "d1")
        r = post_data(emu, None, content=b'{"x": "' + b"a" * 2000 + b'"}')
        assert r.status_code == 413 and "1024" in error(r)
        r = emu.http.post("/_emulator/lorawan/uplinks", content=b"{" + b" " * 2000 + b"}")
        assert r.status_code == 413


def test_errors_on_the_short_way_have_the_surface_shape_and_no_traceback(
    emulator: InProcessEmulator,
    device: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    r = post_data(emulator, {"t": 1}, device="nope")
    assert r.status_code == 404 and error(r) == "device 'nope' not found"
    r = emulator.http.post(
        "/_emulator/lorawan/uplinks", json={"DevEUI": "xyz", "FPort": 1, "payload_hex": ""}
    )
    assert r.status_code == 400 and "DevEUI" in r.json()["error"]["message"]

    def boom(raw: bytes) -> None:
        raise RuntimeError("secret-internal-detail")

    monkeypatch.setattr(callback, "_parse", boom)
    with caplog.at_level(logging.ERROR, logger="iotcli.emulator"):
        r = post_data(emulator, {"t": 1}, token=device)
    assert r.status_code == 500
    assert r.json() == {"error": {"message": "internal error in the emulator (see its log)"}}
    assert "Traceback" not in r.text and "secret-internal-detail" not in r.text
    assert "Traceback" not in caplog.text
