"""Request bodies: the real Thinger server's own examples are accepted, and its schema's rejections
are 400s naming the field."""

from __future__ import annotations

from typing import Any

from iotcli.emulator.thinger.validation import document, request_examples
from tests.emulator.thinger_helpers import U
from tests.harness import InProcessEmulator

CREATE = {
    "/v1/users/{user}/devices": "device",
    "/v1/users/{user}/buckets": "bucket",
    "/v1/users/{user}/endpoints": "endpoint",
}
UPDATE = {
    "/v1/users/{user}/devices/{device}": ("devices", "device"),
    "/v1/users/{user}/buckets/{bucket}": ("buckets", "bucket"),
    "/v1/users/{user}/endpoints/{endpoint}": ("endpoints", "endpoint"),
}


#: SHA-256 of shared/reference/thinger/server-openapi.json (thinger-io/thinger-node), as recorded in tests/data/README.md.
REFERENCE_SHA256 = "037f068b71bf14a0bea0f12e4010519fbb0b3b100e6e48b545b7c92b31452d0b"


def test_the_data_file_is_the_reference_document() -> None:
    import hashlib
    from importlib import resources

    raw = resources.files("iotcli").joinpath("data/thinger-openapi.json").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == REFERENCE_SHA256
    assert document()["paths"]  # and it is the document the validation reads


def test_every_create_and_update_example_of_the_real_schema_is_accepted(emulator: InProcessEmulator) -> None:
    seen = 0
    created: dict[str, list[dict[str, Any]]] = {}
    for path, id_field in CREATE.items():
        examples = request_examples("post", path)
        assert examples, path
        for name, body in examples.items():
            url = path.replace("{user}", "local")
            # Two of the real examples share an id: the second replaces the first.
            emulator.http.delete(f"{url}/{body[id_field]}")
            r = emulator.http.post(url, json=body)
            assert r.status_code == 200, (path, name, r.text)
            shown = r.json()
            for key, value in body.items():
                if key != "credentials":  # a secret: stored (hashed), never shown
                    assert shown[key] == value, (path, name, key)  # stored and shown as sent
            created.setdefault(id_field, []).append(body)
            seen += 1
    for path, (collection, id_field) in UPDATE.items():
        for name, body in request_examples("put", path).items():
            # Update the resource the example names, or one of the same type.
            target = body.get(id_field) or next(
                c[id_field] for c in created[id_field] if "type" not in body or c.get("type") == body["type"]
            )
            r = emulator.http.put(f"{U}/{collection}/{target}", json=body)
            assert r.status_code == 200, (path, name, r.text)
            seen += 1
    assert seen >= 20
    # Shown in lists too (MQTT-source buckets, email endpoints...).
    sources = {b["config"]["source"] for b in emulator.http.get(f"{U}/buckets").json()}
    assert sources == {"api", "mqtt", "device", "write"}
    types = {e["type"] for e in emulator.http.get(f"{U}/endpoints").json()}
    assert types == {"email", "http_request"}


def test_rejections_name_the_field(emulator: InProcessEmulator) -> None:
    cases: list[tuple[str, str, Any, str]] = [
        ("/v1/users/local/devices", "POST", {"device": "d", "extra": 1}, "unknown field 'extra'"),
        ("/v1/users/local/devices", "POST", {"name": "n"}, "missing required field 'device'"),
        ("/v1/users/local/devices", "POST", {"device": 5}, "field 'device'"),
        ("/v1/users/local/devices", "POST", {"device": "d", "description": "x" * 300}, "field 'description'"),
        ("/v1/users/local/devices", "POST", [], "request body must be of type object"),
        ("/v1/users/local/buckets", "POST", {"bucket": "b"}, "missing required field"),
        (
            "/v1/users/local/buckets",
            "POST",
            {"bucket": "b", "name": "n", "enabled": True, "config": {"source": "api", "tags": ["a"] * 6}},
            "field 'config.tags'",
        ),
    ]
    for url, method, body, needle in cases:
        r = emulator.http.request(method, url, json=body)
        assert r.status_code == 400, (body, r.text)
        assert needle in r.json()["error"]["message"], (body, r.text)
