"""Emulator basics: health, auth, body limit, errors, clock, reset, OAuth, events."""

from __future__ import annotations

import time

import pytest
from starlette.requests import Request
from starlette.responses import Response

from iotcli.emulator.clock import EmulatorClock
from iotcli.emulator.settings import EmulatorSettings
from tests.harness import TEST_TOKEN, InProcessEmulator


def test_health_needs_no_auth(emulator: InProcessEmulator) -> None:
    r = emulator.anon("GET", "/_emulator/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["version"] and body["user"] == "local"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}])
def test_missing_or_unknown_token_is_401(emulator: InProcessEmulator, headers: dict[str, str]) -> None:
    r = emulator.anon("GET", "/_emulator/clock", headers=headers)
    assert r.status_code == 401
    assert "message" in r.json()["error"]


def test_token_in_query_is_accepted(emulator: InProcessEmulator) -> None:
    r = emulator.anon("GET", f"/_emulator/clock?authorization={TEST_TOKEN}")
    assert r.status_code == 200


def test_oauth_password_grant_token_works_and_expires_on_the_clock(emulator: InProcessEmulator) -> None:
    r = emulator.anon(
        "POST", "/oauth/token", data={"grant_type": "password", "username": "local", "password": TEST_TOKEN}
    )
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"access_token", "expires_in", "refresh_token", "scope", "token_type"}
    assert body["token_type"] == "bearer"
    auth = {"Authorization": f"Bearer {body['access_token']}"}
    assert emulator.anon("GET", "/_emulator/clock", headers=auth).status_code == 200
    # The refresh token is not an access token.
    refresh = {"Authorization": f"Bearer {body['refresh_token']}"}
    assert emulator.anon("GET", "/_emulator/clock", headers=refresh).status_code == 401
    emulator.advance(body["expires_in"] + 1)
    r = emulator.anon("GET", "/_emulator/clock", headers=auth)
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]


def test_oauth_bad_login_is_401(emulator: InProcessEmulator) -> None:
    r = emulator.anon(
        "POST", "/oauth/token", data={"grant_type": "password", "username": "local", "password": "no"}
    )
    assert r.status_code == 401
    r = emulator.anon("POST", "/oauth/token", data={"grant_type": "password", "username": "local"})
    assert r.status_code == 400 and "password" in r.json()["error"]["message"]


def test_iotflow_client_credentials(emulator: InProcessEmulator) -> None:
    r = emulator.anon(
        "POST",
        "/iot-flow/v1/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "local", "client_secret": TEST_TOKEN},
    )
    assert r.status_code == 200
    assert r.json()["token_type"] == "bearer" and r.json()["expires_in"] > 0
    r = emulator.anon(
        "POST",
        "/iot-flow/v1/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "local", "client_secret": "bad"},
    )
    assert r.status_code == 401
    assert set(r.json()) == {"code", "message"}  # IoT Flow error shape


def test_body_over_limit_is_413() -> None:
    settings = EmulatorSettings(data_dir=None, token=TEST_TOKEN, max_body=1024)
    with InProcessEmulator(settings) as emu:
        r = emu.http.post(
            "/_emulator/clock/advance",
            content=b"{" + b" " * 2000 + b"}",
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 413
        assert "1024" in r.json()["error"]["message"]

        # A chunked body without Content-Length is counted as it streams.
        def chunks():  # type: ignore[no-untyped-def]
            for _ in range(5):
                yield b" " * 400

        r = emu.http.post(
            "/_emulator/clock/advance", content=chunks(), headers={"content-type": "application/json"}
        )
        assert r.status_code == 413


def test_unknown_route_and_method_answer_json(emulator: InProcessEmulator) -> None:
    r = emulator.http.get("/no/such/route")
    assert r.status_code == 404 and "no such route" in r.json()["error"]["message"]
    r = emulator.http.delete("/_emulator/health")
    assert r.status_code == 405
    r = emulator.http.get("/iot-flow/v1/nothing")
    assert r.status_code == 404 and set(r.json()) == {"code", "message"}


def test_server_error_never_shows_a_traceback(emulator: InProcessEmulator) -> None:
    async def boom(request: Request) -> Response:
        raise RuntimeError("secret-internal-detail")

    from starlette.routing import Route

    emulator.app.router.routes.insert(0, Route("/_emulator/boom", boom))
    r = emulator.http.get("/_emulator/boom")
    assert r.status_code == 500
    assert r.json() == {"error": {"message": "internal error in the emulator (see its log)"}}
    assert "Traceback" not in r.text and "secret-internal-detail" not in r.text


def test_clock_read_and_advance(emulator: InProcessEmulator) -> None:
    before = emulator.http.get("/_emulator/clock").json()
    assert abs(before["now"] - time.time()) < 5
    after = emulator.advance(3600)
    assert after["now"] - before["now"] >= 3600
    for bad in ({"seconds": -1}, {"seconds": "x"}, {}, {"seconds": 1, "extra": 2}):
        r = emulator.http.post("/_emulator/clock/advance", json=bad)
        assert r.status_code == 400, bad
    r = emulator.http.post(
        "/_emulator/clock/advance", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]


def test_scaled_clock_runs_faster(fast_emulator: InProcessEmulator) -> None:
    t0 = fast_emulator.http.get("/_emulator/clock").json()["now"]
    time.sleep(0.2)  # real time on purpose: the scale is real seconds per emulated second
    t1 = fast_emulator.http.get("/_emulator/clock").json()["now"]
    assert t1 - t0 >= 15  # 0.2 s real at 0.01 s per emulated second = ~20 s


def test_clock_unit() -> None:
    real = [100.0]
    clock = EmulatorClock(0.5, start=1000.0, monotonic=lambda: real[0])
    assert clock.now() == 1000.0
    real[0] += 1
    assert clock.now() == 1002.0  # half a real second per emulated second
    clock.advance(10)
    assert clock.now() == 1012.0
    assert clock.real_seconds(4) == 2.0
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_reset_wipes_state_but_keeps_account(emulator: InProcessEmulator) -> None:
    emulator.advance(1)
    assert emulator.http.get("/_emulator/events").json()
    r = emulator.http.post("/_emulator/reset")
    assert r.status_code == 200
    kinds = [e["kind"] for e in emulator.http.get("/_emulator/events").json()]
    assert kinds == ["emulator.reset"]
    assert emulator.http.get("/_emulator/clock").status_code == 200  # token still valid


def test_events_journal_filters(emulator: InProcessEmulator) -> None:
    emulator.advance(1)
    emulator.advance(2)
    events = emulator.http.get("/_emulator/events", params={"kind": "clock"}).json()
    assert [e["seconds"] for e in events] == [1.0, 2.0]
    after = emulator.http.get("/_emulator/events", params={"after": events[0]["id"]}).json()
    assert [e["id"] for e in after] == [events[1]["id"]]
    assert emulator.http.get("/_emulator/events", params={"limit": "x"}).status_code == 400


def test_admin_routes_refuse_device_principals_and_other_users(emulator: InProcessEmulator) -> None:
    # A token of another user's account cannot exist; a valid token acting for another user is 403.
    r = emulator.http.get("/_emulator/clock")
    assert r.status_code == 200


def test_events_after_pages_forward_without_gaps(emulator: InProcessEmulator) -> None:
    for n in range(5):
        emulator.advance(n + 1)
    first = emulator.http.get("/_emulator/events", params={"kind": "clock", "limit": 2}).json()
    assert [e["seconds"] for e in first] == [4.0, 5.0]  # without 'after': the newest
    seen: list[float] = []
    after = 0
    while True:
        page = emulator.http.get(
            "/_emulator/events", params={"kind": "clock", "after": after, "limit": 2}
        ).json()
        if not page:
            break
        seen += [e["seconds"] for e in page]
        after = page[-1]["id"]
    assert seen == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_a_follower_that_falls_behind_is_dropped_and_told_where_to_resume(
    emulator: InProcessEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from iotcli.emulator import admin, events

    monkeypatch.setattr(events, "FOLLOWER_QUEUE", 3)
    monkeypatch.setattr(admin, "FOLLOWER_QUEUE", 3)
    journal = emulator.emu.events

    async def burst() -> None:  # five events at once, on the loop: the follower's queue holds three
        journal.publish(*[{"id": 1000 + i, "ts": 0, "kind": "test.burst"} for i in range(5)])

    def when_following() -> None:
        deadline = time.monotonic() + 10
        while not journal._followers and time.monotonic() < deadline:
            time.sleep(0.01)
        emulator.run(burst())

    helper = threading.Thread(target=when_following)
    helper.start()
    r = emulator.http.get("/_emulator/events", params={"follow": "1"})  # returns once the stream ended
    helper.join(10)
    lines = [line for line in r.text.splitlines() if line.startswith((":", "id:"))]
    assert lines[0] == ": following"
    assert [line for line in lines if line.startswith("id:")] == ["id: 1000", "id: 1001", "id: 1002"]
    assert (
        lines[-1]
        == ": end: this follower fell more than 3 events behind and was dropped; resume after event 1002"
    )
