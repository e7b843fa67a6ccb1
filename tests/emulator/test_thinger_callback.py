"""Thinger surface: callback settings and callback ingest (CONTRACT section 2, steps 1-7), timeouts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from iotcli.emulator.settings import EmulatorSettings
from tests.emulator.thinger_helpers import (
    V3,
    U,
    create_bucket,
    create_device,
    create_endpoint,
    device_token,
    error,
    events,
    post_data,
    records,
    set_callback,
    wait_until,
)
from tests.harness import TEST_TOKEN, TEST_USER, InProcessEmulator, Reply, Sink

# -- settings ------------------------------------------------------------------------------------


def test_callback_settings_defaults_and_set(emulator: InProcessEmulator) -> None:
    create_device(emulator, "d1")
    create_bucket(emulator, "b1")
    create_endpoint(emulator, "e1", {"url": "http://127.0.0.1:9/x"})
    r = emulator.http.get(f"{V3}/devices/d1/callback")
    assert r.json() == {"actions": {}, "properties": {"timeout": 10}}
    body = {
        "actions": {
            "write_bucket": "b1",
            "call_endpoint": "e1",
            "set_property": "last",
            "send_property": "cmd",
        },
        "properties": {"timeout": 5},
    }
    r = emulator.http.put(f"{V3}/devices/d1/callback", json=body)
    assert r.status_code == 200 and r.json() == body
    assert emulator.http.get(f"{V3}/devices/d1/callback").json() == body
    # A key left out stays; a key given replaces.
    r = emulator.http.put(f"{V3}/devices/d1/callback", json={"properties": {"timeout": 2}})
    assert r.json() == {"actions": body["actions"], "properties": {"timeout": 2}}
    r = emulator.http.put(f"{V3}/devices/d1/callback", json={"actions": {"set_property": "p"}})
    assert r.json() == {"actions": {"set_property": "p"}, "properties": {"timeout": 2}}


def test_callback_settings_errors(emulator: InProcessEmulator) -> None:
    create_device(emulator, "d1")
    create_bucket(emulator, "mq", config={"source": "mqtt", "topic": "a/b"})
    cases = [
        ({"actions": {"write_bucket": "nope"}}, "nope"),
        ({"actions": {"call_endpoint": "nope"}}, "nope"),
        ({"actions": {"write_bucket": "mq"}}, "mqtt"),
        ({"actions": {"store": "b1"}}, "actions.store"),
        ({"actions": {"set_property": "bad id"}}, "actions.set_property"),
        ({"properties": {"timeout": "ten"}}, "properties.timeout"),
        ({"properties": {"retries": 1}}, "properties.retries"),
        ({"hooks": {}}, "hooks"),
    ]
    for body, needle in cases:
        r = emulator.http.put(f"{V3}/devices/d1/callback", json=body)
        assert r.status_code == 400, body
        assert needle in error(r), (body, error(r))
    assert emulator.http.get(f"{V3}/devices/nope/callback").status_code == 404
    assert emulator.http.put(f"{V3}/devices/nope/callback", json={}).status_code == 404
    assert emulator.anon("GET", f"{V3}/devices/d1/callback").status_code == 401


# -- ingest: step 1, auth and device checks ----------------------------------------------------


def test_ingest_auth(emulator: InProcessEmulator) -> None:
    create_device(emulator, "d1")
    create_device(emulator, "d2")
    own = device_token(emulator, "d1")["token"]
    foreign = device_token(emulator, "d2")["token"]
    url = f"{V3}/devices/d1/callback/data"
    assert emulator.anon("POST", url, json={"a": 1}).status_code == 401
    assert post_data(emulator, {"a": 1}, token="not-a-token").status_code == 401
    r = post_data(emulator, {"a": 1}, token=foreign)
    assert r.status_code == 403 and "d1" in error(r)
    assert post_data(emulator, {"a": 1}, token=own).status_code == 200
    assert post_data(emulator, {"a": 1}).status_code == 200  # the account token
    assert emulator.anon("POST", f"{url}?authorization={own}", json={"a": 1}).status_code == 200
    # Another user's path: 403 even with the account token.
    assert emulator.http.post("/v3/users/bob/devices/d1/callback/data", json={"a": 1}).status_code == 403

    rejected = events(emulator, "callback.rejected")
    assert [e["status"] for e in rejected] == [401, 401, 403, 403]
    assert all(e["reason"] for e in rejected)
    journal = emulator.http.get("/_emulator/events", params={"limit": 1000}).text
    assert own not in journal and foreign not in journal and "not-a-token" not in journal


def test_ingest_unknown_disabled_and_non_http_devices(emulator: InProcessEmulator) -> None:
    create_device(emulator, "off", enabled=False)
    create_device(emulator, "mq", type="MQTT", credentials="secret-1")
    create_device(emulator, "vi", type="Virtual")
    r = post_data(emulator, {"a": 1}, device="ghost")
    assert r.status_code == 404 and "ghost" in error(r)
    r = post_data(emulator, {"a": 1}, device="off")
    assert r.status_code == 403 and "disabled" in error(r)
    for device in ("mq", "vi"):
        r = post_data(emulator, {"a": 1}, device=device)
        assert r.status_code == 400 and "HTTP" in error(r)
    assert post_data(emulator, {"a": 1}, device="bad.id").status_code == 400
    # Enabling the device takes effect at once (the cache is dropped on change).
    assert emulator.http.put(f"{U}/devices/off", json={"enabled": True}).status_code == 200
    assert post_data(emulator, {"a": 1}, device="off").status_code == 200
    reasons = [e["reason"] for e in events(emulator, "callback.rejected")]
    assert any("ghost" in r for r in reasons) and any("disabled" in r for r in reasons)


# -- step 2: body ----------------------------------------------------------------------------------


def test_non_json_body_is_200_with_nothing_stored(emulator: InProcessEmulator) -> None:
    create_device(emulator, "d1")
    create_bucket(emulator, "b1")
    set_callback(emulator, write_bucket="b1", set_property="last")
    for content in (b"temp=21", b"", b'{"t": NaN}', b'{"t": 1e400}', b"\xff\xfe{}", b"[1, 2]"):
        r = post_data(emulator, None, content=content)
        assert r.status_code == 200 and r.content == b""
    assert records(emulator) == []
    assert emulator.http.get(f"{V3}/devices/d1/properties").json() == []
    assert emulator.http.get(f"{U}/devices/d1/stats").json()["connected"] is False
    ignored = events(emulator, "callback.ignored")
    assert len(ignored) == 6
    assert "not valid JSON" in ignored[0]["reason"] and "nothing stored" in ignored[0]["reason"]
    assert all("not valid JSON" in e["reason"] for e in ignored[1:5])
    assert "not a JSON object" in ignored[5]["reason"]


# -- step 3: connection state ----------------------------------------------------------------------


def test_connection_state_and_counters(emulator: InProcessEmulator) -> None:
    create_device(emulator, "d1")
    set_callback(emulator, send_property="cmd")
    emulator.http.put(f"{V3}/devices/d1/properties/cmd", json={"value": {"led": "on"}})
    body = json.dumps({"temp": 21}).encode()
    before = emulator.http.get("/_emulator/clock").json()["now_ms"]
    r = post_data(emulator, None, content=body, params={"ip": "10.1.2.3"})
    assert r.status_code == 200
    stats = emulator.http.get(f"{U}/devices/d1/stats").json()
    assert stats["connected"] is True and stats["connected_ts"] >= before
    assert stats["ip_address"] == "10.1.2.3"
    assert stats["rx_bytes"] == len(body) and stats["tx_bytes"] == len(r.content) > 0
    first_ts = stats["connected_ts"]
    emulator.advance(5)
    post_data(emulator, None, content=body)
    stats = emulator.http.get(f"{U}/devices/d1/stats").json()
    assert stats["connected_ts"] == first_ts  # still the same connection
    assert stats["ip_address"] == "testclient"  # the peer address when no ?ip=
    assert stats["rx_bytes"] == 2 * len(body)
    item = emulator.http.get(f"{U}/devices").json()[0]
    assert item["connection"] == {"active": True, "ts": first_ts}
    assert len(events(emulator, "device.connected")) == 1


def test_timeout_disconnects_on_clock_advance(emulator: InProcessEmulator) -> None:
    create_device(emulator, "d1")
    set_callback(emulator, timeout=1)
    assert post_data(emulator, {"a": 1}).status_code == 200
    emulator.advance(59)
    assert emulator.http.get(f"{U}/devices/d1/stats").json()["connected"] is True
    emulator.advance(2)
    # Reads are right at once, and the background monitor writes the disconnection down promptly.
    assert emulator.http.get(f"{U}/devices/d1/stats").json()["connected"] is False
    gone = wait_until(lambda: events(emulator, "device.disconnected"), timeout=3)
    assert gone[0]["device"] == "d1" and gone[0]["reason"] == "timeout"
    item = emulator.http.get(f"{U}/devices").json()[0]
    assert item["connection"]["active"] is False and item["connection"]["ts"] == gone[0]["at"]
    # The next call connects it again, with a new connected_ts.
    first = emulator.http.get(f"{U}/devices/d1/stats").json()["connected_ts"]
    assert post_data(emulator, {"a": 2}).status_code == 200
    stats = emulator.http.get(f"{U}/devices/d1/stats").json()
    assert stats["connected"] is True and stats["connected_ts"] > first
    assert [e["kind"] for e in events(emulator, "device")[-3:]] == [
        "device.connected",
        "device.disconnected",
        "device.connected",
    ][-3:]
    assert len(events(emulator, "device.connected")) == 2


def test_default_timeout_is_ten_minutes_and_calls_keep_it_alive(emulator: InProcessEmulator) -> None:
    create_device(emulator, "d1")
    post_data(emulator, {"a": 1})
    emulator.advance(9 * 60)
    post_data(emulator, {"a": 2})
    emulator.advance(9 * 60)
    assert emulator.http.get(f"{U}/devices/d1/stats").json()["connected"] is True
    emulator.advance(61)
    assert emulator.http.get(f"{U}/devices/d1/stats").json()["connected"] is False
    wait_until(lambda: events(emulator, "device.disconnected"), timeout=3)
    assert len(events(emulator, "device.disconnected")) == 1


def test_ingest_after_timeout_before_monitor_records_both_transitions(emulator: InProcessEmulator) -> None:
    create_device(emulator, "d1")
    set_callback(emulator, timeout=1)
    post_data(emulator, {"a": 1})
    emulator.advance(120)
    post_data(emulator, {"a": 2})
    kinds = [e["kind"] for e in events(emulator, "device")]
    assert kinds.count("device.disconnected") == 1 and kinds.count("device.connected") == 2


def test_fast_clock_times_out_without_advance(fast_emulator: InProcessEmulator) -> None:
    create_device(fast_emulator, "d1")
    set_callback(fast_emulator, timeout=1)  # one emulated minute = 0.6 s real
    post_data(fast_emulator, {"a": 1})
    wait_until(lambda: events(fast_emulator, "device.disconnected"), timeout=5)
    assert fast_emulator.http.get(f"{U}/devices/d1/stats").json()["connected"] is False


# -- steps 4-5: bucket and property ------------------------------------------------------------


def test_write_bucket_ts_rules_and_set_property(emulator: InProcessEmulator) -> None:
    create_device(emulator, "d1")
    create_bucket(emulator, "b1")
    set_callback(emulator, write_bucket="b1", set_property="last")
    now = emulator.http.get("/_emulator/clock").json()["now_ms"]
    assert post_data(emulator, {"ts": 1_700_000_000_000, "temp": 20}).status_code == 200
    assert post_data(emulator, {"temp": 21}, params={"ts": "1700000001000"}).status_code == 200
    assert post_data(emulator, {"temp": 22}).status_code == 200
    got = records(emulator, sort="asc")
    assert got[0] == {"ts": 1_700_000_000_000, "val": {"temp": 20}}
    assert got[1] == {"ts": 1_700_000_001_000, "val": {"temp": 21}}
    assert got[2]["val"] == {"temp": 22} and abs(got[2]["ts"] - now) < 5000
    # The same ts replaces the record.
    post_data(emulator, {"ts": 1_700_000_000_000, "temp": 30})
    got = records(emulator, sort="asc")
    assert len(got) == 3 and got[0]["val"] == {"temp": 30}
    prop = emulator.http.get(f"{V3}/devices/d1/properties/last").json()
    assert prop["value"] == {"ts": 1_700_000_000_000, "temp": 30}
    r = post_data(emulator, {"temp": 1}, params={"ts": "yesterday"})
    assert r.status_code == 400 and "ts" in error(r)


def test_missing_or_disabled_bucket_does_not_fail_the_ingest(emulator: InProcessEmulator) -> None:
    create_device(emulator, "d1")
    create_bucket(emulator, "b1")
    set_callback(emulator, write_bucket="b1", set_property="last")
    emulator.http.put(f"{U}/buckets/b1", json={"enabled": False})
    assert post_data(emulator, {"t": 1}).status_code == 200
    assert records(emulator) == []
    assert emulator.http.get(f"{V3}/devices/d1/properties/last").json()["value"] == {"t": 1}
    notes = events(emulator, "callback.received")[-1]["notes"]
    assert "b1" in notes[0]


# -- step 6: endpoint through the outbox ------------------------------------------------------


def test_call_endpoint_through_the_outbox(emulator: InProcessEmulator, sink: Sink) -> None:
    create_device(emulator, "d1")
    create_endpoint(
        emulator,
        "e1",
        {
            "url": sink.url + "/hook/{{id}}",
            "method": "POST",
            "headers": [{"key": "X-Temp", "value": "{{temp}}"}],
            "body_type": "json",
        },
    )
    set_callback(emulator, call_endpoint="e1")
    assert post_data(emulator, {"id": "abc", "temp": 21.5}).status_code == 200
    got = sink.wait_for(1)[0]
    assert got.path == "/hook/abc" and got.headers["x-temp"] == "21.5"
    assert got.json() == {"id": "abc", "temp": 21.5}
    emulator.wait_idle()
    deliveries = emulator.http.get("/_emulator/deliveries", params={"device": "d1"}).json()
    assert len(deliveries) == 1 and deliveries[0]["status"] == "delivered"
    assert deliveries[0]["kind"] == "endpoint" and deliveries[0]["endpoint"] == "e1"


def test_failing_endpoint_never_fails_the_ingest(emulator: InProcessEmulator) -> None:
    with Sink(script=[Reply(500, "boom")], default=200) as sink:
        create_device(emulator, "d1")
        create_bucket(emulator, "b1")
        create_endpoint(emulator, "e1", {"url": sink.url + "/x"})
        set_callback(emulator, call_endpoint="e1", write_bucket="b1")
        assert post_data(emulator, {"n": 1}).status_code == 200
        sink.wait_for(1)
        emulator.wait_idle()
        [failed] = emulator.http.get("/_emulator/deliveries").json()
        assert failed["status"] == "failed" and "500" in failed["reason"]
        detail = emulator.http.get(f"/_emulator/deliveries/{failed['id']}").json()
        assert len(detail["attempt_log"]) == 1 and detail["attempt_log"][0]["status"] == 500
        assert len(records(emulator)) == 1
        assert events(emulator, "endpoint.failed")[0]["endpoint"] == "e1"
        # Failed endpoint calls are replayable.
        assert emulator.http.post(f"/_emulator/deliveries/{failed['id']}/replay").status_code == 200
        sink.wait_for(2)
        emulator.wait_idle()
        assert emulator.http.get(f"/_emulator/deliveries/{failed['id']}").json()["status"] == "delivered"


def test_unreachable_endpoint_is_failed(emulator: InProcessEmulator) -> None:
    from tests.harness import free_port

    create_device(emulator, "d1")
    create_endpoint(emulator, "e1", {"url": f"http://127.0.0.1:{free_port()}/x"})
    set_callback(emulator, call_endpoint="e1")
    assert post_data(emulator, {"n": 1}).status_code == 200
    emulator.wait_idle()
    [failed] = emulator.http.get("/_emulator/deliveries").json()
    assert failed["status"] == "failed"
    detail = emulator.http.get(f"/_emulator/deliveries/{failed['id']}").json()
    assert detail["attempt_log"][0]["error"]


# -- step 7: the answer --------------------------------------------------------------------------


def test_answer_is_send_property_value_or_empty(emulator: InProcessEmulator) -> None:
    create_device(emulator, "d1")
    create_bucket(emulator, "b1")
    set_callback(emulator, write_bucket="b1", send_property="cmd")
    r = post_data(emulator, {"a": 1})
    assert r.status_code == 200 and r.content == b""  # property not set yet
    for value in ({"led": "on", "level": 3}, "reboot", 42, True, None, [1, 2]):
        emulator.http.put(f"{V3}/devices/d1/properties/cmd", json={"value": value})
        r = post_data(emulator, {"a": 1})
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        assert r.json() == value
        # GET answers the same without ingesting.
        g = emulator.http.get(f"{V3}/devices/d1/callback/data")
        assert g.status_code == 200 and g.json() == value
    count = len(records(emulator))
    emulator.http.get(f"{V3}/devices/d1/callback/data")
    assert len(records(emulator)) == count
    set_callback(emulator, write_bucket="b1")
    assert emulator.http.get(f"{V3}/devices/d1/callback/data").content == b""
    assert emulator.http.get(f"{V3}/devices/nope/callback/data").status_code == 404


def test_callback_received_event_and_no_token_in_journal(emulator: InProcessEmulator) -> None:
    create_device(emulator, "d1")
    create_bucket(emulator, "b1")
    set_callback(emulator, write_bucket="b1", set_property="p")
    token = device_token(emulator)["token"]
    post_data(emulator, {"ts": 5, "x": 1}, token=token)
    [received] = events(emulator, "callback.received")
    assert received["device"] == "d1" and received["write_bucket"] == "b1" and received["record_ts"] == 5
    assert received["set_property"] == "p" and received["bytes"] > 0
    assert token not in emulator.http.get("/_emulator/events", params={"limit": 1000}).text


def test_timeouts_survive_a_restart(tmp_path: Path) -> None:
    settings = EmulatorSettings(data_dir=tmp_path / "state", token=TEST_TOKEN, user=TEST_USER)
    with InProcessEmulator(settings) as emu:
        create_device(emu, "d1")
        set_callback(emu, timeout=1)
        assert post_data(emu, {"a": 1}).status_code == 200
    with InProcessEmulator(settings) as emu:
        assert emu.http.get(f"{U}/devices/d1/stats").json()["connected"] is True
        emu.advance(61)
        gone = wait_until(lambda: events(emu, "device.disconnected"), timeout=3)
        assert gone[0]["device"] == "d1"
        assert emu.http.get(f"{V3}/devices/d1/callback").json()["properties"] == {"timeout": 1}


def test_set_property_keeps_other_fields_and_echo_answers_this_payload(emulator: InProcessEmulator) -> None:
    create_device(emulator, "d1")
    emulator.http.post(f"{V3}/devices/d1/properties", json={"property": "last", "value": 0, "name": "Last"})
    set_callback(emulator, set_property="last", send_property="last")
    r = post_data(emulator, {"n": 1, "s": "é"})
    assert r.status_code == 200 and r.json() == {"n": 1, "s": "é"}  # step 5 before step 7
    prop = emulator.http.get(f"{V3}/devices/d1/properties/last").json()
    assert prop["value"] == {"n": 1, "s": "é"} and prop["name"] == "Last"
    assert emulator.http.get(f"{V3}/devices/d1/callback/data").json() == {"n": 1, "s": "é"}


def test_callback_events_reach_live_followers_with_their_journal_ids(emulator: InProcessEmulator) -> None:
    """Ingest builds the published events only while someone follows the journal: then they must come."""
    create_device(emulator, "d1")
    create_bucket(emulator, "b1")
    set_callback(emulator, "d1", write_bucket="b1")
    journal = emulator.emu.events

    async def follow() -> Any:
        return journal.follow()

    assert post_data(emulator, {"n": 0}).status_code == 200  # nobody follows yet
    queue = emulator.run(follow())
    try:
        assert post_data(emulator, {"n": 1}).status_code == 200
        assert post_data(emulator, {"n": 2}).status_code == 200
        published = [queue.get_nowait() for _ in range(queue.qsize())]
    finally:
        journal.unfollow(queue)
    received = [e for e in published if e["kind"] == "callback.received"]
    stored = events(emulator, "callback.received")
    assert [e["id"] for e in received] == [e["id"] for e in stored[-2:]]
    assert all(e["device"] == "d1" and e["write_bucket"] == "b1" for e in received)
