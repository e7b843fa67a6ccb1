"""Sinks in the emulator (CONTRACT section 6): scripted answers, the request journal, events, class-A loop-back."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from iotcli.emulator.settings import EmulatorSettings
from iotcli.emulator.sinks import backend
from iotcli.emulator.sinks import routes as sink_routes
from iotcli.sinkspec import MAX_DELAY, MAX_SEQUENCE
from tests.emulator.iotflow_support import DEVEUI, connect
from tests.emulator.iotflow_support import uplink as send_uplink
from tests.harness import TEST_TOKEN, InProcessEmulator


def make(emu: InProcessEmulator, name: str = "app", **script: Any) -> dict[str, Any]:
    r = emu.http.post("/_emulator/sinks", json={"name": name, **script})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def requests(emu: InProcessEmulator, name: str = "app", **query: Any) -> list[dict[str, Any]]:
    r = emu.http.get(f"/_emulator/sinks/{name}/requests", params=query)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_create_list_show_delete(emulator: InProcessEmulator) -> None:
    sink = make(emulator, respond=[503, "503", 200], default=204)
    assert sink["url"] == f"{emulator.settings.base_url}/_emulator/sinks/app/in"
    assert sink["respond"] == [503, 503, 200] and sink["default"] == 204 and sink["requests"] == 0
    assert [s["name"] for s in emulator.http.get("/_emulator/sinks").json()] == ["app"]
    assert emulator.http.get("/_emulator/sinks/app").json()["url"] == sink["url"]
    again = emulator.http.post("/_emulator/sinks", json={"name": "app"})
    assert again.status_code == 409 and "already exists" in again.json()["error"]["message"]
    assert emulator.http.delete("/_emulator/sinks/app").status_code == 200
    assert emulator.http.get("/_emulator/sinks/app").status_code == 404
    assert emulator.http.get("/_emulator/sinks").json() == []


def test_sink_routes_need_the_account_token_but_its_url_does_not(emulator: InProcessEmulator) -> None:
    make(emulator)
    assert emulator.anon("GET", "/_emulator/sinks").status_code == 401
    assert emulator.anon("GET", "/_emulator/sinks/app/requests").status_code == 401
    assert emulator.anon("POST", "/_emulator/sinks/app/in", json={"a": 1}).status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "x", "respond": [700]}, "respond[0]: '700' is not an answer"),
        ({"name": "x", "respond": "503,,200"}, "not a list of answers"),
        ({"name": "x", "respond": ["later"]}, "'later' is not an answer"),
        ({"name": "x", "default": True}, "default: 'True' is not an answer"),
        ({"name": "x", "delay": -1}, "delay: must be between 0"),
        ({"name": "x", "delay": [3, 1]}, "minimum 3 is larger than the maximum 1"),
        ({"name": "x", "downlink": {"payload_hex": "abc"}}, "downlink.payload_hex"),
        ({"name": "x", "downlink": {"payload_hex": "0a", "FPort": 300}}, "downlink.FPort"),
        ({"name": "x", "colour": "red"}, "unknown field 'colour'"),
        ({"name": "bad name!"}, "invalid sink id"),
        ({"respond": [200]}, "field 'name' is required"),
    ],
)
def test_bad_scripts_are_400_naming_the_field(emulator: InProcessEmulator, body: Any, message: str) -> None:
    r = emulator.http.post("/_emulator/sinks", json=body)
    assert r.status_code == 400 and message in r.json()["error"]["message"], r.text


#: The bad scripts above, less the one rule a JSON Schema cannot state (delay [min, max] needs min <= max).
SCHEMA_REFUSES = [
    {"name": "x", "respond": [700]},
    {"name": "x", "respond": "503,,200"},
    {"name": "x", "respond": "later"},
    {"name": "x", "respond": ""},
    {"name": "x", "respond": [200] * (MAX_SEQUENCE + 1)},
    {"name": "x", "default": True},
    {"name": "x", "delay": -1},
    {"name": "x", "delay": MAX_DELAY + 1},
    {"name": "x", "delay": [0, MAX_DELAY + 1]},
    {"name": "x", "headers": {"X-A": "1\r\nX-B: 2"}},
    {"name": "x", "headers": {"": "1"}},
    {"name": "x", "headers": {"X-A": "1\n"}},
    {"name": "x", "downlink": {"payload_hex": "abc"}},
    {"name": "x", "downlink": {"payload_hex": "0a", "FPort": 300}},
    {"name": "x", "colour": "red"},
    {"name": "bad name!"},
    {"respond": [200]},
]


@pytest.mark.parametrize("body", SCHEMA_REFUSES)
def test_the_create_schema_refuses_what_the_server_refuses(emulator: InProcessEmulator, body: Any) -> None:
    """/_emulator/openapi.json is as strict as the route (schemathesis' ST202 runs on it: test_fuzz.py)."""
    assert emulator.http.post("/_emulator/sinks", json=body).status_code == 400
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, sink_routes.CREATE_SCHEMA)


@pytest.mark.parametrize(
    "script",
    [
        {"respond": [503.0, "429", "timeout"], "default": 200.0},
        {"respond": "503,reset,200"},
        {"delay": [0, MAX_DELAY]},
        {"delay": MAX_DELAY, "headers": {"X-App": "a b: c"}},
        {"downlink": {"payload_hex": "0A", "FPort": 2.0}},
    ],
)
def test_scripts_the_schema_calls_valid_are_taken(
    emulator: InProcessEmulator, script: dict[str, Any]
) -> None:
    body = {"name": "ok", **script}
    jsonschema.validate(body, sink_routes.CREATE_SCHEMA)
    r = emulator.http.post("/_emulator/sinks", json=body)
    assert r.status_code == 200, r.text
    assert emulator.http.put("/_emulator/sinks/ok", json=script).status_code == 200


def test_an_integral_float_status_is_the_integer(emulator: InProcessEmulator) -> None:
    sink = make(emulator, respond=[503.0], default=201.0)
    assert sink["respond"] == [503] and sink["default"] == 201
    assert emulator.anon("POST", "/_emulator/sinks/app/in", json={}).status_code == 503
    assert emulator.anon("POST", "/_emulator/sinks/app/in", json={}).status_code == 201


def test_unknown_sink_is_404_everywhere(emulator: InProcessEmulator) -> None:
    for method, path in [
        ("GET", "/_emulator/sinks/nope"),
        ("DELETE", "/_emulator/sinks/nope"),
        ("GET", "/_emulator/sinks/nope/requests"),
        ("DELETE", "/_emulator/sinks/nope/requests"),
        ("POST", "/_emulator/sinks/nope/in"),
        ("PUT", "/_emulator/sinks/nope/in/deep/path"),
    ]:
        r = emulator.http.request(method, path)
        assert r.status_code == 404 and "sink 'nope' not found" in r.json()["error"]["message"], (
            method,
            path,
        )


def test_status_sequence_then_default_with_body_and_headers(emulator: InProcessEmulator) -> None:
    make(emulator, respond="503,timeout", default=201, body={"ok": True}, headers={"X-App": "smoke"})
    make(emulator, "two", respond=[503])
    # "timeout" answers are not requested here (they hold the request): replace the script's second answer
    emulator.http.put(
        "/_emulator/sinks/app", json={"respond": [503, 502], "default": 201, "body": {"ok": True}}
    )
    got = [emulator.anon("POST", "/_emulator/sinks/app/in", json={"n": i}) for i in range(4)]
    assert [r.status_code for r in got] == [503, 502, 201, 201]
    assert got[0].json() == {"ok": True}
    assert [r["answer"]["status"] for r in requests(emulator)] == [503, 502, 201, 201]
    assert emulator.http.get("/_emulator/sinks/app").json()["served"] == 4
    # Clearing forgets the requests and starts the sequence again.
    assert emulator.http.delete("/_emulator/sinks/app/requests").json() == {"name": "app", "cleared": 4}
    assert emulator.anon("POST", "/_emulator/sinks/app/in").status_code == 503
    # The other sink has its own sequence.
    assert emulator.anon("GET", "/_emulator/sinks/two/in").status_code == 503
    assert emulator.anon("GET", "/_emulator/sinks/two/in").status_code == 200


def test_answer_headers_and_text_body(emulator: InProcessEmulator) -> None:
    make(emulator, body="accepted", headers={"X-App": "smoke"})
    r = emulator.anon("POST", "/_emulator/sinks/app/in")
    assert (
        r.text == "accepted"
        and r.headers["x-app"] == "smoke"
        and r.headers["content-type"].startswith("text/plain")
    )


def test_records_method_path_query_headers_body(emulator: InProcessEmulator) -> None:
    make(emulator)
    emulator.anon(
        "PUT",
        "/_emulator/sinks/app/in/uplinks/eu?site=a&site=b&api_key=k1",
        content=b'{"DevEUI_uplink": {"DevEUI": "X"}}',
        headers={"Content-Type": "application/json", "X-Api-Key": "topsecret", "X-Thing": "t-1"},
    )
    emulator.anon("GET", "/_emulator/sinks/app/in", content=b"\xff\xfe not utf-8")
    first, second = requests(emulator)
    assert first["method"] == "PUT" and first["path"] == "/uplinks/eu"
    assert first["query"] == {"site": ["a", "b"], "api_key": "*****"}
    assert first["headers"]["x-api-key"] == "*****" and first["headers"]["x-thing"] == "t-1"
    assert first["json"] == {"DevEUI_uplink": {"DevEUI": "X"}} and first["size"] == 34
    assert first["answer"] == {"status": 200, "outcome": "answered", "delay": 0.0}
    assert second["path"] == "/" and second["json"] is None and second["size"] == 12
    clear = requests(emulator, secrets="1")[0]
    assert clear["headers"]["x-api-key"] == "topsecret" and clear["query"]["api_key"] == "k1"
    # Paging: oldest first, after an id, a limit.
    assert [r["id"] for r in requests(emulator, after=first["id"])] == [second["id"]]
    assert [r["id"] for r in requests(emulator, limit=1)] == [first["id"]]
    assert emulator.http.get("/_emulator/sinks/app/requests", params={"after": "x"}).status_code == 400


def test_body_over_the_limit_is_413(emulator: InProcessEmulator) -> None:
    make(emulator)
    big = b"x" * (emulator.settings.max_body + 1)
    assert emulator.anon("POST", "/_emulator/sinks/app/in", content=big).status_code == 413
    assert requests(emulator) == []


def test_delay_runs_on_the_emulator_clock(fast_emulator: InProcessEmulator) -> None:
    make(fast_emulator, delay="30s")  # 30 emulated seconds = 0.3 s at time scale 0.01
    start = time.monotonic()
    assert fast_emulator.anon("POST", "/_emulator/sinks/app/in").status_code == 200
    assert 0.25 <= time.monotonic() - start < 5
    fast_emulator.http.put("/_emulator/sinks/app", json={"delay": [1, 4]})
    fast_emulator.anon("POST", "/_emulator/sinks/app/in")
    assert 1 <= requests(fast_emulator)[-1]["answer"]["delay"] <= 4


def test_every_request_is_an_event(emulator: InProcessEmulator) -> None:
    make(emulator, respond=[503])
    emulator.anon("POST", "/_emulator/sinks/app/in/x")
    events = emulator.http.get("/_emulator/events", params={"kind": "sink"}).json()
    assert [e["kind"] for e in events] == ["sink.created", "sink.request"]
    assert events[1]["sink"] == "app" and events[1]["status"] == 503 and events[1]["path"] == "/x"


def test_requests_are_capped_per_sink(emulator: InProcessEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backend, "MAX_REQUESTS_PER_SINK", 3)
    make(emulator)
    for i in range(5):
        emulator.anon("POST", "/_emulator/sinks/app/in", json={"n": i})
    assert [r["json"]["n"] for r in requests(emulator)] == [2, 3, 4]


def test_class_a_loop_back_queues_a_downlink(emulator: InProcessEmulator) -> None:
    make(emulator, downlink={"payload_hex": "0A", "FPort": 2})
    # The downlinkUrl of a real forwarded uplink (its destination is unreachable; the attempt is journaled).
    connect(emulator, "http://127.0.0.1:9/unused")
    send_uplink(emulator)
    emulator.wait_idle()
    (delivery,) = emulator.http.get("/_emulator/deliveries").json()
    shown = emulator.http.get(f"/_emulator/deliveries/{delivery['id']}").json()
    attempt = next(v for k, v in shown.items() if k.startswith("attempt") and isinstance(v, list))[0]
    downlink_url = json.loads(attempt["body"])["DevEUI_uplink"]["downlinkUrl"]
    uplink = {
        "DevEUI_uplink": {"DevEUI": DEVEUI, "FPort": 1, "payload_hex": "01", "downlinkUrl": downlink_url}
    }
    assert emulator.anon("POST", "/_emulator/sinks/app/in", json=uplink).status_code == 200
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not requests(emulator)[0]["answer"].get("downlink"):
        time.sleep(0.01)
    assert requests(emulator)[0]["answer"]["downlink"]["status"] == 202
    queued = emulator.http.get("/_emulator/lorawan/downlinks").json()
    assert [(d["DevEUI"], d["FPort"], d["payload_hex"], d["status"]) for d in queued] == [
        (DEVEUI, 2, "0a", "queued")
    ]
    kinds = [e["kind"] for e in emulator.http.get("/_emulator/events", params={"kind": "sink"}).json()]
    assert kinds[-1] == "sink.downlink"
    # Not an uplink: no downlink.
    emulator.anon("POST", "/_emulator/sinks/app/in", json={"DevEUI_downlink_Sent": {"DevEUI": DEVEUI}})
    assert "downlink" not in requests(emulator)[1]["answer"]


def test_sinks_and_requests_survive_a_restart(tmp_path: Path) -> None:
    settings = EmulatorSettings(data_dir=tmp_path, token=TEST_TOKEN)
    with InProcessEmulator(settings) as emu:
        make(emu, respond=[503, 200])
        emu.anon("POST", "/_emulator/sinks/app/in", json={"n": 1})
    with InProcessEmulator(EmulatorSettings(data_dir=tmp_path, token=TEST_TOKEN)) as emu:
        assert [r["json"] for r in requests(emu)] == [{"n": 1}]
        assert emu.anon("POST", "/_emulator/sinks/app/in").status_code == 200  # the sequence went on


def test_reset_wipes_sinks(emulator: InProcessEmulator) -> None:
    make(emulator)
    emulator.http.post("/_emulator/reset")
    assert emulator.http.get("/_emulator/sinks").json() == []


def test_requests_older_than_the_journal_age_limit_are_pruned() -> None:
    settings = EmulatorSettings(data_dir=None, token=TEST_TOKEN, journal_max_age=3600)
    with InProcessEmulator(settings) as emu:
        make(emu)
        emu.anon("POST", "/_emulator/sinks/app/in", json={"n": 1})
        emu.advance(1800)
        emu.anon("POST", "/_emulator/sinks/app/in", json={"n": 2})
        emu.advance(2000)
        assert emu.run(emu.emu.services["sinks"].prune()) == 1
        assert [r["json"] for r in requests(emu)] == [{"n": 2}]
