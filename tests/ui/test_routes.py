"""The inspector's routes without a browser: login, every page, every action, CSRF, Origin, 404s."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from iotcli.emulator.ui.stream import STREAM_BATCH, batch_message
from tests.harness import InProcessEmulator, Sink
from tests.ui.support import UI, login, secrets_in, seed_traffic

PAGES = [
    "/",
    f"{UI}",
    f"{UI}/",
    f"{UI}/devices",
    f"{UI}/devices/sensor1",
    f"{UI}/buckets",
    f"{UI}/buckets/climate",
    f"{UI}/buckets/climate?range=1h",
    f"{UI}/buckets/climate?range=custom&min_ts=1&max_ts=99999999999999",
    f"{UI}/endpoints",
    f"{UI}/connections",
    f"{UI}/deliveries",
    f"{UI}/deliveries?status=failed&device=sensor1",
    f"{UI}/downlinks",
    f"{UI}/events",
    f"{UI}/events?kind=device",
    f"{UI}/sinks",
    f"{UI}/sinks/app",
]
ACTIONS = [
    (f"{UI}/actions/deliveries/1/replay", {}),
    (f"{UI}/actions/clock/advance", {"seconds": "5"}),
    (f"{UI}/actions/reset", {}),
    (f"{UI}/actions/uplink", {"target": "device", "device": "sensor1", "data": "{}"}),
    (f"{UI}/actions/property", {"device": "sensor1", "property": "p", "value": "1"}),
]


@pytest.fixture
def seeded(fast_emulator: InProcessEmulator) -> Iterator[InProcessEmulator]:
    """Traffic in place; ``.http`` then sends no token (the inspector never reads the Authorization header)."""
    with Sink([500]) as destination:
        seed_traffic(fast_emulator.http, destination.url)
        del fast_emulator.http.headers["Authorization"]
        yield fast_emulator


@pytest.mark.parametrize("path", PAGES)
def test_every_page_needs_a_login(seeded: InProcessEmulator, path: str) -> None:
    r = seeded.http.get(path, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith(f"{UI}/login?next=")
    # Not even with the account token as a bearer: the inspector has its own session.
    r = seeded.http.get(path, headers={"Authorization": f"Bearer {seeded.token}"}, follow_redirects=False)
    assert r.status_code == 303


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_without_secrets(seeded: InProcessEmulator, path: str) -> None:
    login(seeded.http, seeded.token)
    r = seeded.http.get(path)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    assert "access-control-allow-origin" not in r.headers
    assert secrets_in(r.text, seeded.token) == []


def test_login_sets_a_strict_httponly_cookie_and_rejects_a_wrong_token(seeded: InProcessEmulator) -> None:
    r = seeded.http.post(f"{UI}/login", data={"token": "wrong"}, follow_redirects=False)
    assert r.status_code == 401
    assert "not the account token" in r.text
    r = seeded.http.post(
        f"{UI}/login", data={"token": seeded.token, "next": "https://evil.example/"}, follow_redirects=False
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"{UI}/"  # no open redirect
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and seeded.token not in cookie


def test_login_from_another_origin_is_refused(seeded: InProcessEmulator) -> None:
    r = seeded.http.post(
        f"{UI}/login",
        data={"token": seeded.token},
        headers={"Origin": "http://evil.example"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert "set-cookie" not in r.headers


@pytest.mark.parametrize(("path", "form"), ACTIONS)
def test_actions_need_a_session_a_csrf_token_and_our_origin(
    seeded: InProcessEmulator, path: str, form: dict[str, str]
) -> None:
    assert seeded.http.post(path, data=form, follow_redirects=False).status_code == 401
    csrf = login(seeded.http, seeded.token)
    assert seeded.http.post(path, data=form, follow_redirects=False).status_code == 403
    assert seeded.http.post(path, data={**form, "csrf": "guess"}, follow_redirects=False).status_code == 403
    r = seeded.http.post(
        path, data={**form, "csrf": csrf}, headers={"Origin": "http://evil.example"}, follow_redirects=False
    )
    assert r.status_code == 403
    r = seeded.http.post(
        path, data={**form, "csrf": csrf}, headers={"Sec-Fetch-Site": "cross-site"}, follow_redirects=False
    )
    assert r.status_code == 403


def test_destructive_actions_ask_first(seeded: InProcessEmulator) -> None:
    csrf = login(seeded.http, seeded.token)
    r = seeded.http.post(f"{UI}/actions/reset", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 200 and "Are you sure?" in r.text
    assert seeded.http.get(f"{UI}/devices/sensor1").status_code == 200  # nothing reset yet
    r = seeded.http.post(
        f"{UI}/actions/reset",
        data={"csrf": csrf, "confirmed": "1", "back": f"{UI}/devices"},
        headers={"Origin": str(seeded.http.base_url).rstrip("/")},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"{UI}/devices"
    page = seeded.http.get(f"{UI}/devices").text
    assert "was reset" in page and "sensor1" not in page


def test_uplink_property_and_clock_actions(seeded: InProcessEmulator) -> None:
    csrf = login(seeded.http, seeded.token)
    back = f"{UI}/devices/sensor1"
    r = seeded.http.post(
        f"{UI}/actions/uplink",
        data={"csrf": csrf, "target": "device", "device": "sensor1", "data": '{"t": 21.5}', "back": back},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = seeded.http.get(back).text
    assert "Uplink sent to device sensor1" in page and 'class="badge connected"' in page
    records = seeded._client.get(
        "/v1/users/local/buckets/climate/data", headers={"Authorization": f"Bearer {seeded.token}"}
    ).json()
    assert records[0]["val"] == {"t": 21.5}

    page = seeded.http.post(
        f"{UI}/actions/property",
        data={"csrf": csrf, "device": "sensor1", "property": "led", "value": '{"on": true}', "back": back},
    ).text
    assert "Property led of sensor1 set." in page and "&#34;on&#34;: true" in page

    r = seeded.http.post(
        f"{UI}/actions/uplink", data={"csrf": csrf, "target": "device", "device": "ghost", "data": "{}"}
    )
    assert "404" in r.text and "ghost" in r.text  # the API's own answer, as a message

    before = seeded.emu.clock.now()
    seeded.http.post(f"{UI}/actions/clock/advance", data={"csrf": csrf, "seconds": "3600", "confirmed": "1"})
    assert seeded.emu.clock.now() - before >= 3600


def test_lorawan_uplink_and_replay(seeded: InProcessEmulator) -> None:
    csrf = login(seeded.http, seeded.token)
    r = seeded.http.post(
        f"{UI}/actions/uplink",
        data={
            "csrf": csrf,
            "target": "lorawan",
            "deveui": "0024AEB3C02BE1C4",
            "fport": "2",
            "payload_hex": "0a0b",
        },
    )
    assert "LoRaWAN uplink FCntUp 0 accepted" in r.text
    seeded.wait_idle()
    listing = seeded.http.get(f"{UI}/deliveries?status=dropped").text
    assert "dropped" in listing
    delivery_id = listing.split(f'href="{UI}/deliveries/')[1].split('"')[0]
    page = seeded.http.get(f"{UI}/deliveries/{delivery_id}").text
    assert "answer 500" in page and "X-Plain" in page and "X-Plain" in page
    assert secrets_in(page) == []
    r = seeded.http.post(
        f"{UI}/actions/deliveries/{delivery_id}/replay",
        data={"csrf": csrf, "confirmed": "1", "back": f"{UI}/deliveries/{delivery_id}"},
    )
    assert f"Delivery {delivery_id} is pending again" in r.text
    seeded.wait_idle()
    page = seeded.http.get(f"{UI}/deliveries/{delivery_id}").text
    assert "Attempt 2" in page and "answer 200" in page

    r = seeded.http.post(
        f"{UI}/actions/deliveries/{delivery_id}/replay", data={"csrf": csrf, "confirmed": "1"}
    )
    assert "only failed, dropped or expired" in r.text


@pytest.mark.parametrize(
    "path",
    [
        f"{UI}/devices/ghost",
        f"{UI}/buckets/ghost",
        f"{UI}/connections/99",
        f"{UI}/deliveries/999",
        f"{UI}/sinks/ghost",
        f"{UI}/nothing/here",
    ],
)
def test_missing_things_are_404_pages(seeded: InProcessEmulator, path: str) -> None:
    login(seeded.http, seeded.token)
    r = seeded.http.get(path)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")


def test_static_files_are_shipped_and_same_origin_only(seeded: InProcessEmulator) -> None:
    for path in ("inspector.js", "inspector.css", "vendor/uplot/uPlot.iife.min.js", "vendor/uplot/LICENSE"):
        r = seeded.http.get(f"{UI}/static/{path}")
        assert r.status_code == 200, path
        assert r.headers["cross-origin-resource-policy"] == "same-origin"


def test_stream_needs_a_session(seeded: InProcessEmulator) -> None:
    assert seeded.http.get(f"{UI}/stream").status_code == 401


def _events(*kinds: str) -> list[dict[str, object]]:
    return [{"id": i, "ts": 0, "kind": kind} for i, kind in enumerate(kinds, 1)]


def test_the_stream_tells_each_page_only_what_concerns_it() -> None:
    """Filtered on the server for the page's data-live: a device page under load gets "changed", not events."""
    batch = _events("callback.received", "device.connected", "uplink.received")
    device_page = batch_message(batch, ("callback", "device", "property"), None)
    assert device_page == {"events": [], "skipped": 0, "changed": True}
    assert batch_message(_events("uplink.received"), ("callback", "device", "property"), None) is None
    journal = batch_message(batch, ("events",), None)
    assert journal is not None and [e["kind"] for e in journal["events"]] == [e["kind"] for e in batch]
    assert journal["changed"] is False
    filtered = batch_message(batch, ("events",), "device")
    assert filtered is not None and [e["kind"] for e in filtered["events"]] == ["device.connected"]
    assert batch_message(batch, ("events",), "sink") is None
    # Without ?live= (an older page): every event, and "changed".
    assert batch_message(batch, None, None) == {"events": batch, "skipped": 0, "changed": True}
    many = batch_message(_events(*["device.created"] * (STREAM_BATCH + 7)), ("events",), None)
    assert many is not None and many["skipped"] == 7 and len(many["events"]) == STREAM_BATCH


def test_logout_ends_the_session(seeded: InProcessEmulator) -> None:
    csrf = login(seeded.http, seeded.token)
    assert seeded.http.post(f"{UI}/logout", data={"csrf": "wrong"}, follow_redirects=False).status_code == 403
    r = seeded.http.post(f"{UI}/logout", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert seeded.http.get(f"{UI}/devices", follow_redirects=False).status_code == 303
    assert "Account token" in seeded.http.get(f"{UI}/login").text


def test_record_fields_cannot_break_out_of_the_chart_data(seeded: InProcessEmulator) -> None:
    evil = "</script><script>alert(1)</script>"
    r = seeded.http.post(
        "/v1/users/local/buckets/climate/data",
        json={evil: 1, "t": 2},
        headers={"Authorization": f"Bearer {seeded.token}"},
    )
    assert r.status_code == 200, r.text
    login(seeded.http, seeded.token)
    page = seeded.http.get(f"{UI}/buckets/climate").text
    assert evil not in page
    data = page.split('<script type="application/json" id="chart-data">')[1].split("</script>")[0]
    assert json.loads(data)["series"][evil] == [1]
