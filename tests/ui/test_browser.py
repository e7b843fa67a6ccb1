"""The inspector in a real browser (headless Debian Chromium): what a person sees while traffic flows."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx

from tests.harness import EmulatorProcess
from tests.ui.conftest import docs_screenshot
from tests.ui.support import UI, secrets_in, seed_traffic

USER = "local"


def _post_data(http: httpx.Client, device: str, payload: dict[str, Any]) -> None:
    r = http.post(f"/v3/users/{USER}/devices/{device}/callback/data", json=payload)
    assert r.status_code == 200, r.text


def _seed(http: httpx.Client, proc: EmulatorProcess) -> dict[str, Any]:
    return seed_traffic(http, f"{proc.url}/_emulator/sinks/app/in")


def test_the_device_turns_connected_without_a_reload(
    page: Any, server: httpx.Client, inspector_server: EmulatorProcess
) -> None:
    _seed(server, inspector_server)
    page.goto(f"{UI}/devices")
    row = page.locator('tr[data-device="sensor1"]')
    assert row.locator(".state").inner_text() == "disconnected"
    page.evaluate("window.__same_page = true")
    page.wait_for_selector("body.streaming")
    _post_data(server, "sensor1", {"temperature": 21.5})
    page.locator('tr[data-device="sensor1"] .state', has_text=re.compile("^connected$")).wait_for()
    assert page.evaluate("window.__same_page") is True  # the live stream updated it, not a reload
    assert "127.0.0.1" in page.locator('tr[data-device="sensor1"]').inner_text()
    docs_screenshot(page, "devices")
    page.click("text=sensor1")
    assert page.locator("#ip").inner_text() == "127.0.0.1"
    assert "write_bucket" in page.locator("#callback").inner_text()
    assert "field" in page.locator("#tokens").inner_text()
    assert page.errors == []


def test_the_bucket_chart_has_the_points(
    page: Any, server: httpx.Client, inspector_server: EmulatorProcess
) -> None:
    _seed(server, inspector_server)
    now = server.get("/_emulator/clock").json()["now_ms"]
    for i in range(24):
        _post_data(
            server, "sensor1", {"ts": now - (24 - i) * 60_000, "temperature": 20 + i % 5, "humidity": 40 + i}
        )
    page.goto(f"{UI}/buckets/climate?range=1h")
    page.wait_for_selector('#chart[data-drawn="24"]')
    assert page.locator("#chart canvas").count() == 1
    legend = page.locator("#chart .u-legend").inner_text()
    assert "temperature" in legend and "humidity" in legend
    assert page.locator("#records tbody tr").count() == 24
    docs_screenshot(page, "bucket")
    page.select_option("#range", "all")
    page.click("text=Show")
    page.wait_for_selector('#chart[data-drawn="24"]')
    assert page.errors == []


def test_a_delivery_shows_its_attempts_and_a_replay_works(
    page: Any, server: httpx.Client, inspector_server: EmulatorProcess
) -> None:
    _seed(server, inspector_server)
    # The connection opens within a second of emulated time; the sink answers 500 first, then 200.
    r = server.post(
        "/_emulator/lorawan/uplinks", json={"DevEUI": "0024AEB3C02BE1C4", "FPort": 1, "payload_hex": "0a0b"}
    )
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 10
    while not server.get("/_emulator/deliveries", params={"status": "dropped"}).json():
        assert time.monotonic() < deadline, "the uplink was not dropped"
        time.sleep(0.05)
    page.goto(f"{UI}/deliveries")
    page.click("#deliveries tbody tr >> nth=0 >> a")
    attempt = page.locator("#attempt-1")
    text = attempt.inner_text()
    assert "answer 500" in text and "/_emulator/sinks/app/in" in text and "DevEUI_uplink" in text
    assert "X-Plain" in text and "visible" in text
    docs_screenshot(page, "delivery")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Replay')")
    page.locator(".flash.ok").wait_for()
    deadline = time.monotonic() + 10
    while "answer 200" not in page.content():
        assert time.monotonic() < deadline, "the replay was not delivered"
        page.reload()
    assert page.locator("#status").inner_text() == "delivered"
    assert page.locator("#attempt-2").count() == 1
    assert page.errors == []


def test_a_new_event_appears_without_a_reload(page: Any, server: httpx.Client) -> None:
    page.goto(f"{UI}/events")
    page.evaluate("window.__same_page = true")
    page.wait_for_selector("body.streaming")
    assert server.post("/v1/users/local/devices", json={"device": "late-comer"}).status_code == 200
    row = page.locator("#journal tbody tr", has_text="late-comer")
    row.wait_for()
    assert "device.created" in row.inner_text()
    assert page.evaluate("window.__same_page") is True
    docs_screenshot(page, "events")
    assert page.errors == []


def test_no_secret_ever_appears_in_a_page(
    page: Any, server: httpx.Client, inspector_server: EmulatorProcess
) -> None:
    seeded = _seed(server, inspector_server)
    _post_data(server, "sensor1", {"temperature": 1})
    server.post(
        "/_emulator/lorawan/uplinks", json={"DevEUI": "0024AEB3C02BE1C4", "FPort": 1, "payload_hex": "01"}
    )
    paths = [
        "/",
        f"{UI}/devices/sensor1",
        f"{UI}/connections",
        f"{UI}/connections/{seeded['connection']}",
        f"{UI}/deliveries",
        f"{UI}/events",
        f"{UI}/sinks/app",
        f"{UI}/endpoints",
    ]
    deliveries = server.get("/_emulator/deliveries").json()
    paths += [f"{UI}/deliveries/{d['id']}" for d in deliveries[:3]]
    for path in paths:
        page.goto(path)
        found = secrets_in(page.content(), inspector_server.token, seeded["device_token"])
        assert found == [], f"{path} shows {found}"
    page.goto(f"{UI}/connections/{seeded['connection']}")
    config = page.locator("#configuration").inner_text()
    assert config.count("*****") >= 3 and "visible" in config
    assert "/iot-flow/downlinkMessages/" in page.locator("#downlink-url").inner_text()
    docs_screenshot(page, "connection")
    assert page.evaluate("document.cookie") == ""  # the session cookie is HttpOnly
    page.goto("/")
    docs_screenshot(page, "overview")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: nothing wider than the screen
    for path in ("/", f"{UI}/devices/sensor1", f"{UI}/connections/{seeded['connection']}"):
        page.goto(path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
    docs_screenshot(page, "phone")


def test_actions_from_the_overview_forms(page: Any, server: httpx.Client) -> None:
    assert server.post("/v1/users/local/devices", json={"device": "bench1"}).status_code == 200
    page.goto(f"{UI}/")
    page.fill("#up-device", "bench1")
    page.fill("#up-data", '{"t": 5}')
    page.click("text=Send uplink")
    assert "Uplink sent to device bench1" in page.locator(".flash.ok").inner_text()
    before = server.get("/_emulator/clock").json()["now"]
    page.fill("#adv-seconds", "3600")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Advance')")
    assert "Clock advanced by 3600 s" in page.locator(".flash.ok").inner_text()
    assert server.get("/_emulator/clock").json()["now"] - before >= 3600
    page.once("dialog", lambda dialog: dialog.dismiss())  # a dismissed confirmation resets nothing
    page.click("button:has-text('Reset')")
    assert server.get("/v1/users/local/devices/bench1").status_code == 200
    page.goto(f"{UI}/devices")
    page.keyboard.press("Tab")  # keyboard-usable: the skip link comes first
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    assert page.errors == []
