"""``GET /_emulator/openapi.json``: the OpenAPI 3.1 document of every mounted route, built from the route tables.

Nothing here is written by hand per route: each ``RouteSpec`` (method, path, summary, body schema, query,
auth, status, tag) becomes one operation, so the document cannot drift from the code. Request schemas that
point into the real Thinger server's OpenAPI (``#/components/schemas/...``) are carried along with the
components they reference, so the document is self-contained and valid.
"""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from importlib import resources
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from iotcli import __version__
from iotcli.emulator.http import ID_PATTERN
from iotcli.emulator.routing import RouteSpec, RouteTable

routes = RouteTable("emulator", tag="emulator")

REF_PREFIX = "#/components/schemas/"
_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")

#: The two error shapes of the contract (section 2 and 3), by surface.
ERROR_SCHEMAS: dict[str, dict[str, Any]] = {
    "ThingerError": {
        "type": "object",
        "description": "Error of the Thinger-style surface and of /_emulator",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["message"],
                "properties": {"message": {"type": "string"}},
            }
        },
    },
    "IotFlowError": {
        "type": "object",
        "description": "Error of the IoT Flow-style surface (/iot-flow)",
        "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
    },
}

ERROR_DESCRIPTIONS = {
    400: "Bad request: invalid id, body, field or query parameter (the message names it)",
    401: "Missing, unknown or expired token",
    403: "Token valid but not allowed for this user or device",
    404: "Not found",
    413: "Request body larger than --max-body",
    500: "Internal error (never with a traceback)",
}

SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <token>"},
    "authorization": {
        "type": "apiKey",
        "in": "query",
        "name": "authorization",
        "description": "?authorization=<token>",
    },
}


def error_schema_name(path: str) -> str:
    return "IotFlowError" if path.startswith(("/iot-flow", "/thingpark")) else "ThingerError"


def path_params(path: str) -> list[str]:
    return _PARAM.findall(path)


def openapi_path(path: str) -> str:
    """Starlette's ``{name:converter}`` -> OpenAPI's ``{name}``."""
    return _PARAM.sub(lambda m: "{" + m.group(1) + "}", path)


@cache
def thinger_components() -> dict[str, Any]:
    """``components.schemas`` of the real Thinger server's OpenAPI (the request schemas point into it)."""
    text = resources.files("iotcli").joinpath("data/thinger-openapi.json").read_text(encoding="utf-8")
    schemas: dict[str, Any] = json.loads(text).get("components", {}).get("schemas", {})
    return schemas


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref)
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def _carry_components(schemas: list[Any], components: dict[str, Any]) -> None:
    """Add every ``#/components/schemas/X`` the given schemas reference (transitively) to ``components``."""
    known = thinger_components()
    todo = set().union(*(_refs(s) for s in schemas)) if schemas else set()
    while todo:
        ref = todo.pop()
        if not ref.startswith(REF_PREFIX):
            continue  # a local ref inside its own schema ('#/$defs/..' would be wrong, and the validity test says so)
        name = ref[len(REF_PREFIX) :]
        if name in components or name not in known:
            continue
        components[name] = copy.deepcopy(known[name])
        todo |= _refs(components[name])


def operation(spec: RouteSpec, operation_id: str) -> dict[str, Any]:
    path = openapi_path(spec.path)
    error_ref = {"$ref": REF_PREFIX + error_schema_name(path)}
    op: dict[str, Any] = {
        "operationId": operation_id,
        "summary": spec.summary,
        "tags": [spec.tag],
    }
    if spec.handler.__doc__:
        op["description"] = spec.handler.__doc__.strip()
    params: list[dict[str, Any]] = []
    for name in path_params(path):
        schema = spec.params.get(name) or {"type": "string", "pattern": ID_PATTERN.pattern}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    for name, declared in spec.query.items():
        required = False
        if isinstance(declared, dict):  # a schema as strict as the handler (types, patterns, bounds)
            description = str(declared.get("description", ""))
            required = declared.get("required") is True  # the parameter itself, not a JSON Schema keyword
            schema = {
                k: v() if callable(v) else v  # a value listed on first use (RouteSpec.query)
                for k, v in declared.items()
                if k not in ("description", "required")
            }
        else:
            description, schema = declared, {"type": "string"}
        params.append(
            {"name": name, "in": "query", "required": required, "description": description, "schema": schema}
        )
    if params:
        op["parameters"] = params
    if spec.body is not None:
        op["requestBody"] = {"required": True, "content": {spec.body_type: {"schema": spec.body}}}
    responses: dict[str, Any] = {str(spec.status): {"description": _success(spec.status)}}
    errors = {400, 404, 500}
    if spec.auth:
        errors |= {401, 403}
    if spec.body is not None or spec.method in {"POST", "PUT", "PATCH"}:
        errors.add(413)
    for status, description in spec.responses.items():
        if status < 400:
            responses.setdefault(str(status), {"description": description})
        else:
            errors.add(status)
    for status in sorted(errors):
        responses[str(status)] = {
            "description": spec.responses.get(status) or ERROR_DESCRIPTIONS.get(status, "Error"),
            "content": {"application/json": {"schema": error_ref}},
        }
    op["responses"] = responses
    op["security"] = [{"bearer": []}, {"authorization": []}] if spec.auth else []
    return op


def _success(status: int) -> str:
    return {200: "OK", 201: "Created", 202: "Accepted", 204: "No content"}.get(status, "Success")


def build_openapi(tables: list[RouteTable], server_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``tables`` (every route the emulator mounts)."""
    paths: dict[str, dict[str, Any]] = {}
    components: dict[str, Any] = copy.deepcopy(ERROR_SCHEMAS)
    used_ids: set[str] = set()
    tags: dict[str, str] = {}
    bodies: list[Any] = []
    for table in tables:
        for spec in table.specs:
            base_id = f"{table.surface}_{spec.handler.__name__}".replace("-", "_")
            op_id, n = base_id, 2
            while op_id in used_ids:
                op_id, n = f"{base_id}_{n}", n + 1
            used_ids.add(op_id)
            paths.setdefault(openapi_path(spec.path), {})[spec.method.lower()] = operation(spec, op_id)
            tags.setdefault(spec.tag, f"{table.surface} surface")
            if spec.body is not None:
                bodies.append(spec.body)
    _carry_components(bodies, components)
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "iotcli emulator",
            "version": __version__,
            "description": (
                "Local emulator of Thinger.io-style HTTP devices and ThingPark X IoT Flow-style HTTP connections, "
                "plus its own /_emulator extensions. Generated from the emulator's route tables."
            ),
        },
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": copy.deepcopy(SECURITY_SCHEMES)},
        "tags": [{"name": name, "description": desc} for name, desc in tags.items()],
    }
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc


@routes.get("/_emulator/openapi.json", summary="This OpenAPI document (no auth)", auth=False)
async def openapi_document(request: Request) -> Response:
    # The tables create_app mounted (``app.state.route_tables``): this module does not import app.py.
    doc = build_openapi(request.app.state.route_tables, str(request.base_url).rstrip("/"))
    # No secret in it, so any origin may read it (Swagger UI / editor in a browser).
    return JSONResponse(doc, headers={"Access-Control-Allow-Origin": "*"})
