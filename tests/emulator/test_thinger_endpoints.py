"""Thinger surface: endpoints, their {{field}} placeholders, and calls."""

from __future__ import annotations

import pytest

from iotcli.emulator.thinger.calls import render
from tests.emulator.thinger_helpers import U, create_endpoint, error
from tests.harness import InProcessEmulator, Reply, Sink, free_port


def test_render_placeholders() -> None:
    data = {"temp": 21.5, "name": "a b", "gps": {"lat": 1.5}, "list": [10, 20], "flag": True}
    assert render("{{temp}}/{{ name }}", data) == "21.5/a b"
    assert render("{{gps.lat}} {{list.1}} {{flag}} [{{missing}}]", data) == "1.5 20 true []"
    assert render("{{gps}}", data) == '{"lat": 1.5}'
    assert render("{{}}", {"a": 1}) == '{"a": 1}'
    assert render("http://h/{{name}}", data, url=True) == "http://h/a%20b"


def test_endpoint_crud(emulator: InProcessEmulator) -> None:
    e = create_endpoint(emulator, "e1", {"url": "http://127.0.0.1:9/x"}, name="Hook")
    assert (
        e["endpoint"] == "e1" and e["type"] == "http_request" and e["enabled"] is True and e["name"] == "Hook"
    )
    assert e["config"] == {"url": "http://127.0.0.1:9/x"} and e["created"] > 0
    assert emulator.http.get(f"{U}/endpoints/e1").json() == e
    assert [x["endpoint"] for x in emulator.http.get(f"{U}/endpoints").json()] == ["e1"]
    r = emulator.http.put(
        f"{U}/endpoints/e1", json={"description": "d", "config": {"url": "http://127.0.0.1:9/y"}}
    )
    assert (
        r.status_code == 200
        and r.json()["config"] == {"url": "http://127.0.0.1:9/y"}
        and r.json()["description"] == "d"
    )
    r = emulator.http.put(f"{U}/endpoints/e1", json={"endpoint": "e2"})
    assert r.status_code == 400 and "endpoint" in error(r)
    r = emulator.http.put(f"{U}/endpoints/e1", json={"colour": "red"})
    assert r.status_code == 400 and "colour" in error(r)
    assert emulator.http.delete(f"{U}/endpoints/e1").status_code == 200
    assert emulator.http.get(f"{U}/endpoints/e1").status_code == 404
    assert emulator.http.delete(f"{U}/endpoints/e1").status_code == 404
    assert emulator.http.put(f"{U}/endpoints/e1", json={"name": "x"}).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "http_request", "config": {}}, "endpoint"),
        ({"endpoint": "e", "config": {}}, "type"),
        ({"endpoint": "e", "type": "http_request"}, "config"),
        ({"endpoint": "e", "type": "http_request", "config": "url"}, "config"),
        ({"endpoint": "e", "type": "", "config": {}}, "type"),
        ({"endpoint": "e e", "type": "http_request", "config": {}}, "endpoint"),
        ({"endpoint": "e", "type": "http_request", "config": {}, "secret": 1}, "secret"),
    ],
)
def test_endpoint_validation(emulator: InProcessEmulator, body: dict[str, object], field: str) -> None:
    r = emulator.http.post(f"{U}/endpoints", json=body)
    assert r.status_code == 400 and field in error(r)


def test_call_with_placeholders_and_custom_body(emulator: InProcessEmulator) -> None:
    with Sink(default=Reply(201, {"ok": True})) as sink:
        create_endpoint(
            emulator,
            "e1",
            {
                "url": sink.url + "/api/{{device}}?t={{temp}}",
                "method": "PUT",
                "headers": [
                    {"key": "Authorization", "value": "Bearer s3cret"},
                    {"key": "X-Where", "value": "{{gps.city}}"},
                ],
                "body": '{"value": {{temp}}, "all": {{}}, "who": "{{device}}"}',
                "body_type": "custom",
            },
        )
        data = {"device": "dev 1", "temp": 21.5, "gps": {"city": "Paris"}}
        r = emulator.http.post(f"{U}/endpoints/e1/call", json=data)
        assert r.status_code == 200
        assert r.json()["status"] == 201 and r.json()["body"] == {"ok": True}
        [got] = sink.requests
        assert got.method == "PUT" and got.path == "/api/dev%201?t=21.5"
        assert got.headers["x-where"] == "Paris" and got.headers["authorization"] == "Bearer s3cret"
        assert got.json() == {"value": 21.5, "all": data, "who": "dev 1"}
        assert got.headers["content-type"] == "application/json"
        # Recorded in the delivery journal, secrets masked.
        [d] = emulator.http.get("/_emulator/deliveries").json()
        assert d["kind"] == "endpoint" and d["status"] == "delivered" and d["endpoint"] == "e1"
        detail = emulator.http.get(f"/_emulator/deliveries/{d['id']}").json()
        attempt = detail["attempt_log"][0]
        assert attempt["status"] == 201 and attempt["headers"]["Authorization"] == "Bearer *****"
        assert "s3cret" not in str(detail)


def test_call_json_body_and_target_errors(emulator: InProcessEmulator) -> None:
    with Sink(script=[Reply(503, "down")]) as sink:
        create_endpoint(emulator, "e1", {"url": sink.url + "/in", "body_type": "json", "body": ""})
        r = emulator.http.post(f"{U}/endpoints/e1/call", json={"a": [1, 2]})
        assert r.status_code == 200 and r.json()["status"] == 503 and r.json()["body"] == "down"
        assert sink.requests[0].json() == {"a": [1, 2]} and sink.requests[0].method == "POST"
        [d] = emulator.http.get("/_emulator/deliveries").json()
        assert d["status"] == "failed"


def test_call_errors(emulator: InProcessEmulator) -> None:
    assert emulator.http.post(f"{U}/endpoints/nope/call", json={}).status_code == 404
    create_endpoint(emulator, "off", {"url": "http://127.0.0.1:9/"}, enabled=False)
    assert emulator.http.post(f"{U}/endpoints/off/call", json={}).status_code == 403
    create_endpoint(emulator, "nourl", {})
    r = emulator.http.post(f"{U}/endpoints/nourl/call", json={})
    assert r.status_code == 400 and "url" in error(r)
    r = emulator.http.post(f"{U}/endpoints", json={"endpoint": "slack", "type": "slack", "config": {"x": 1}})
    assert r.status_code == 200
    r = emulator.http.post(f"{U}/endpoints/slack/call", json={})
    assert r.status_code == 400 and "slack" in error(r)
    create_endpoint(emulator, "dead", {"url": f"http://127.0.0.1:{free_port()}/"})
    r = emulator.http.post(f"{U}/endpoints/dead/call", json={})
    assert r.status_code == 502 and "dead" in error(r)
    create_endpoint(emulator, "ok", {"url": "http://127.0.0.1:9/"})
    r = emulator.http.post(f"{U}/endpoints/ok/call", json=[1])
    assert r.status_code == 400


def test_email_endpoint_is_recorded_not_sent(emulator: InProcessEmulator) -> None:
    body = {
        "endpoint": "mail",
        "type": "email",
        "config": {
            "recipient": "ops@example.com",
            "subject": "Temp {{temperature}}",
            "body": "<p>{{temperature}} / {{humidity}}</p>",
            "body_type": "html",
        },
    }
    assert emulator.http.post(f"{U}/endpoints", json=body).status_code == 200
    r = emulator.http.post(f"{U}/endpoints/mail/call", json={"temperature": 20, "humidity": 40})
    assert r.status_code == 200 and r.json()["status"] is None
    detail = emulator.http.get(f"/_emulator/deliveries/{r.json()['delivery']}").json()
    assert detail["status"] == "dropped" and "not sent" in detail["reason"]
    attempt = detail["attempt_log"][0]
    assert attempt["url"] == "mailto:ops@example.com" and attempt["headers"]["Subject"] == "Temp 20"
    assert attempt["body"] == "<p>20 / 40</p>"
