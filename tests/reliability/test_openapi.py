"""/_emulator/openapi.json: generated from the route tables, valid, complete, and served without auth."""

from __future__ import annotations

from typing import Any

import jsonschema
from openapi_spec_validator import validate
from starlette.routing import Route

from iotcli.emulator import ui
from iotcli.emulator.app import route_tables
from iotcli.emulator.http import ID_PATTERN
from iotcli.emulator.openapi import build_openapi, openapi_path
from tests.harness import InProcessEmulator

METHODS = {"get", "put", "post", "delete", "patch"}


def test_served_without_auth_and_valid(emulator: InProcessEmulator) -> None:
    r = emulator.anon("GET", "/_emulator/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    # openapi-spec-validator checks the whole document against the OpenAPI 3.1 meta-schema,
    # every schema against JSON Schema 2020-12, and that every $ref resolves.
    validate(doc)
    assert doc["openapi"].startswith("3.1")
    assert doc["servers"] == [{"url": "http://testserver"}]
    assert r.headers["access-control-allow-origin"] == "*"


def test_every_mounted_route_is_documented(emulator: InProcessEmulator) -> None:
    doc = emulator.http.get("/_emulator/openapi.json").json()
    # The web inspector's HTML pages (iotcli.emulator.ui) are not API routes: not in the document.
    inspector = {r.path for r in ui.routes() if isinstance(r, Route)}
    routes = [r for r in emulator.app.routes if isinstance(r, Route) and r.path not in inspector]
    assert routes
    missing = []
    for route in routes:
        for method in route.methods or set():
            if method == "HEAD":
                continue
            path = openapi_path(route.path)  # {path:path} -> {path}
            if method.lower() not in doc["paths"].get(path, {}):
                missing.append(f"{method} {path}")
    assert missing == []
    # ... and nothing is documented that is not mounted.
    mounted = {(m.lower(), openapi_path(r.path)) for r in routes for m in (r.methods or set())}
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops if m in METHODS}
    assert documented <= mounted


def test_operations_carry_params_security_and_error_shapes(emulator: InProcessEmulator) -> None:
    doc = emulator.http.get("/_emulator/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "Authorization: Bearer <token>",
    }
    assert doc["components"]["securitySchemes"]["authorization"]["in"] == "query"
    ids = set()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            ids.add(op["operationId"])
            names = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert names == {seg[1:-1] for seg in path.split("/") if seg.startswith("{")}, path
            expected = "IotFlowError" if path.startswith(("/iot-flow", "/thingpark")) else "ThingerError"
            for status, resp in op["responses"].items():
                if int(status) >= 400:
                    ref = resp["content"]["application/json"]["schema"]["$ref"]
                    assert ref == f"#/components/schemas/{expected}", (method, path, status)
            sink_url = path.startswith("/_emulator/sinks/{name}/in")  # a destination: no token [CONTRACT 6]
            # The real OpenAPI lists no security for the server's healthcheck and assets [CONTRACT 2].
            open_thinger = path in {"/v1/server/healthcheck", "/v1/server/assets"}
            if (
                path in {"/_emulator/health", "/_emulator/openapi.json"}
                or "oauth/token" in path
                or sink_url
                or open_thinger
            ):
                assert op["security"] == []
            elif path.startswith(("/v1/", "/v2/", "/v3/", "/iot-flow/v1/", "/_emulator/")):
                # Everything else of the contract needs a token (the downlink URL authenticates with AS_ID/AS_KEY).
                assert op["security"] == [{"bearer": []}, {"authorization": []}], (method, path)
                assert {"401", "403"} <= set(op["responses"]), (method, path)
    assert len(ids) == sum(len(ops) for ops in doc["paths"].values())  # unique operationIds
    # The error schemas describe what the emulator really answers.
    thinger_404 = emulator.http.get("/no/such/route").json()
    jsonschema.validate(thinger_404, schemas["ThingerError"])
    iotflow_404 = emulator.http.get("/iot-flow/v1/no-such-route").json()
    jsonschema.validate(iotflow_404, schemas["IotFlowError"])


def test_path_params_default_to_the_id_pattern() -> None:
    tables = route_tables()
    doc = build_openapi(tables)
    for table in tables:
        for spec in table.specs:
            for p in doc["paths"][openapi_path(spec.path)][spec.method.lower()].get("parameters", []):
                if p["in"] != "path":
                    continue
                # A route's own declared schema (numbers, uuids), else the contract's id pattern.
                expected = spec.params.get(p["name"]) or {"type": "string", "pattern": ID_PATTERN.pattern}
                assert p["schema"] == expected, (spec.path, p)
    delivery = doc["paths"]["/_emulator/deliveries/{id}"]["get"]["parameters"][0]
    assert delivery["schema"]["pattern"] == "^[0-9]{1,18}$"


def test_request_bodies_come_from_the_specs_and_refs_resolve() -> None:
    tables = route_tables()
    doc = build_openapi(tables)
    for table in tables:
        for spec in table.specs:
            op = doc["paths"][openapi_path(spec.path)][spec.method.lower()]
            if spec.body is None:
                assert "requestBody" not in op
            else:
                assert op["requestBody"]["content"][spec.body_type]["schema"] == spec.body

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
            return own + [r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for v in node for r in refs(v)]
        return []

    for ref in refs(doc):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in doc["components"]["schemas"], ref


def test_bodies_valid_under_the_document_are_not_rejected_as_malformed(emulator: InProcessEmulator) -> None:
    """The clock advance body from the document's schema works; one it rejects gets a 400."""
    doc = emulator.http.get("/_emulator/openapi.json").json()
    schema = doc["paths"]["/_emulator/clock/advance"]["post"]["requestBody"]["content"]["application/json"]
    jsonschema.validate({"seconds": 1}, schema["schema"])
    assert emulator.http.post("/_emulator/clock/advance", json={"seconds": 1}).status_code == 200
    assert emulator.http.post("/_emulator/clock/advance", json={"secs": 1}).status_code == 400
