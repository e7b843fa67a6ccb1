"""fleet provision: the emulator's bulk route (POST /_emulator/devices/bulk) and the
one-device-at-a-time path a real tenant gets (a server without that route), in-process."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.harness import TEST_USER, InProcessEmulator, run_cli

BULK = "/_emulator/devices/bulk"


class CountingTransport(httpx.BaseTransport):
    """The in-process emulator, counting requests; ``no_bulk``: answers 404 to the bulk route."""

    def __init__(self, inner: httpx.BaseTransport, *, no_bulk: bool) -> None:
        self.inner, self.no_bulk, self.paths = inner, no_bulk, []  # type: ignore[var-annotated]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append((request.method, request.url.path))
        if self.no_bulk and request.url.path == BULK:
            return httpx.Response(404, json={"error": {"message": "not found"}})
        return self.inner.handle_request(request)


def provision(
    emulator: InProcessEmulator, tmp_path: Path, *args: str, no_bulk: bool = False
) -> tuple[dict, list]:
    transport = CountingTransport(emulator.transport, no_bulk=no_bulk)
    r = run_cli(
        ["--json", "fleet", "provision", "--devices-file", str(tmp_path / "f.json"), *args],
        transport=transport,
        env={"IOTCLI_SERVER": "http://testserver", "IOTCLI_TOKEN": emulator.token},
    )
    assert r.exit_code == 0, r.stderr
    return r.json()["data"], transport.paths


def check_fleet(emulator: InProcessEmulator, tmp_path: Path, count: int) -> None:
    devices = json.loads((tmp_path / "f.json").read_text())["devices"]
    assert [d["device"] for d in devices] == [f"sim-{i:04d}" for i in range(1, count + 1)]
    assert len({d["token"] for d in devices}) == count
    for d in (devices[0], devices[-1]):  # each token works for its own device, into the bucket
        path = "/" + d["callback_url"].split("://", 1)[1].split("/", 1)[1]
        answer = emulator.anon("POST", path, headers={"Authorization": f"Bearer {d['token']}"}, json={"t": 1})
        assert answer.status_code == 200, answer.text
    assert len(emulator.http.get(f"/v1/users/{TEST_USER}/buckets/fl/data").json()) == 2


def test_on_the_emulator_a_fleet_takes_a_few_bulk_requests(
    emulator: InProcessEmulator, tmp_path: Path
) -> None:
    data, paths = provision(emulator, tmp_path, "--count", "1200", "--bucket", "fl", "--with-token")
    assert data["created"] == 1200 and data["tokens_created"] == 1200
    bulk = [p for p in paths if p == ("POST", BULK)]
    assert len(bulk) == 3 and len(paths) < 12  # 500 + 500 + 200, not 3,600 requests
    check_fleet(emulator, tmp_path, 1200)
    again, paths = provision(emulator, tmp_path, "--count", "1200", "--bucket", "fl", "--with-token")
    assert again["created"] == 0 and again["tokens_created"] == 0  # idempotent, tokens kept


def test_without_the_bulk_route_devices_go_one_by_one(emulator: InProcessEmulator, tmp_path: Path) -> None:
    data, paths = provision(
        emulator, tmp_path, "--count", "6", "--bucket", "fl", "--with-token", no_bulk=True
    )
    assert data["created"] == 6 and data["tokens_created"] == 6
    assert paths.count(("POST", BULK)) == 1  # asked once, then the platform's own routes
    assert sum(1 for m, p in paths if m == "POST" and p == f"/v1/users/{TEST_USER}/devices") == 6
    check_fleet(emulator, tmp_path, 6)


def test_the_bulk_route_checks_its_body(emulator: InProcessEmulator) -> None:
    for body, needle in (
        ({}, "devices"),
        ({"devices": []}, "1 to 1000"),
        ({"devices": [{"device": "a b"}]}, "invalid device id"),
        ({"devices": [{"device": "a"}, {"device": "a"}]}, "twice"),
        ({"devices": [{"device": "a", "colour": 1}]}, "colour"),
        ({"devices": [{"device": "a", "token_name": ""}]}, "token_name"),
        ({"devices": [{"device": "a", "callback": {"actions": {"write_bucket": "nope"}}}]}, "nope"),
        ({"devices": [{"device": f"d{i}"} for i in range(1001)]}, "1 to 1000"),
        # The callback follows PUT .../callback's rules, checked before any device is made (was a 500).
        ({"devices": [{"device": "c1", "callback": {"actions": []}}]}, "devices[0].callback"),
        ({"devices": [{"device": "c1", "callback": {"actions": {"write_bucket": 5}}}]}, "write_bucket"),
        ({"devices": [{"device": "c1", "callback": {"colour": 1}}]}, "colour"),
    ):
        r = emulator.http.post(BULK, json=body)
        assert r.status_code == 400 and needle in r.text, (body, r.status_code, r.text)
    assert emulator.anon("POST", BULK, json={"devices": [{"device": "a"}]}).status_code == 401
    assert emulator.http.get(f"/v1/users/{TEST_USER}/devices/c1").status_code == 404
