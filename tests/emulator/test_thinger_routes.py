"""Every route of the Thinger surface answers 401 without a token, 403 for another user, 400 for a bad
path id and 404 for a missing resource, each with the surface's error body."""

from __future__ import annotations

import re
from typing import Any

import pytest

from iotcli.emulator import thinger
from iotcli.emulator.routing import RouteSpec
from tests.emulator.thinger_helpers import error
from tests.harness import InProcessEmulator

SPECS: list[RouteSpec] = [spec for table in thinger.ROUTE_TABLES for spec in table.specs]
PARAM = re.compile(r"\{(\w+)\}")

#: A body each route accepts, so that what is checked is the path, not the body.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/v1/users/{user}/devices"): {"device": "dx"},
    ("PUT", "/v1/users/{user}/devices/{device}"): {"name": "n"},
    ("POST", "/v1/users/{user}/devices/{device}/tokens"): {"token_name": "t"},
    ("PUT", "/v3/users/{user}/devices/{device}/callback"): {"properties": {"timeout": 1}},
    ("POST", "/v3/users/{user}/devices/{device}/callback/data"): {"a": 1},
    ("POST", "/v1/users/{user}/buckets"): {
        "bucket": "bx",
        "name": "n",
        "enabled": True,
        "config": {"source": "api"},
    },
    ("PUT", "/v1/users/{user}/buckets/{bucket}"): {"name": "n"},
    ("POST", "/v1/users/{user}/buckets/{bucket}/data"): {"a": 1},
    ("POST", "/v1/users/{user}/endpoints"): {"endpoint": "ex", "type": "http_request", "config": {}},
    ("PUT", "/v1/users/{user}/endpoints/{endpoint}"): {"name": "n"},
    ("POST", "/v1/users/{user}/endpoints/{endpoint}/call"): {"a": 1},
    ("POST", "/v3/users/{user}/devices/{device}/properties"): {"property": "p", "value": 1},
    ("PUT", "/v3/users/{user}/devices/{device}/properties/{property}"): {"value": 1},
    ("PATCH", "/v3/users/{user}/devices/{device}/properties/{property}"): {"value": 1},
    ("POST", "/v1/users/{user}/tokens"): {"token": "tx", "name": "n", "enabled": True},
    ("PUT", "/v1/users/{user}/tokens/{token}"): {"name": "n"},
}
#: The routes of one user's resources (the server routes and the open ones are checked in test_thinger_login).
USER_SPECS = [s for s in SPECS if s.auth and "{user}" in s.path]


def _url(spec: RouteSpec, **ids: str) -> str:
    return PARAM.sub(lambda m: ids.get(m.group(1), "missing"), spec.path)


def _call(emu: InProcessEmulator, spec: RouteSpec, url: str, token: str | None) -> Any:
    body = BODIES.get((spec.method, spec.path))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    kwargs: dict[str, Any] = {"headers": headers}
    if spec.method in {"POST", "PUT", "PATCH"}:
        kwargs["json"] = body if body is not None else {}
    return emu.anon(spec.method, url, **kwargs)


def test_every_route_is_listed() -> None:
    routes = {(s.method, s.path) for s in SPECS}
    assert len(routes) == len(SPECS) >= 35
    assert set(BODIES) <= routes


@pytest.mark.parametrize("spec", USER_SPECS, ids=lambda s: f"{s.method} {s.path}")
def test_auth_ids_and_missing_resources(emulator: InProcessEmulator, spec: RouteSpec) -> None:
    token = emulator.token
    r = _call(emulator, spec, _url(spec, user="local"), None)
    assert r.status_code == 401, r.text
    assert error(r)
    r = _call(emulator, spec, _url(spec, user="bob"), token)
    assert r.status_code == 403, r.text
    assert "bob" in error(r)
    for name in PARAM.findall(spec.path):
        ids = {"user": "local", name: "bad.id"}
        r = _call(emulator, spec, _url(spec, **ids), token)
        assert r.status_code == 400, (name, r.text)
        assert name in error(r) or "id" in error(r)
    if set(PARAM.findall(spec.path)) - {"user"}:
        r = _call(emulator, spec, _url(spec, user="local"), token)
        # Missing resources are 404 (a PUT of a property creates it, but not on a missing device).
        assert r.status_code == 404, r.text
        assert "missing" in error(r)
