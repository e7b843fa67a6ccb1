"""Endpoint routes: create, list, read, update, delete, and call (CONTRACT section 2)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from iotcli.delivery.outbox import DROPPED, Decision, Delivery, apply_decision, enqueue, record_attempt
from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.http import ok, path_id, read_json, read_json_object
from iotcli.emulator.routing import RouteTable
from iotcli.emulator.thinger.calls import (
    EMAIL_NOTE,
    EndpointError,
    email_record,
    http_request,
    outcome,
    recorded,
)
from iotcli.emulator.thinger.documents import LIST_QUERY, Documents, commit, list_filter
from iotcli.emulator.thinger.service import account_user, not_found
from iotcli.emulator.thinger.validation import request_schema, validate

routes = RouteTable("thinger", tag="endpoints")

ENDPOINTS = "/v1/users/{user}/endpoints"
ENDPOINT = "/v1/users/{user}/endpoints/{endpoint}"
CALL = "/v1/users/{user}/endpoints/{endpoint}/call"


ENDPOINT_DOCS = Documents("th_endpoints", "endpoint")


@routes.post(ENDPOINTS, summary="Create an endpoint", body=request_schema("post", ENDPOINTS))
async def create_endpoint(request: Request) -> Response:
    """``endpoint``, ``type`` and ``config`` are required [source]. ``http_request`` endpoints are called;
    ``email`` endpoints are stored and their calls recorded in the delivery journal, not sent."""
    emu, svc, user = await account_user(request)
    body = await read_json(request)
    validate("post", ENDPOINTS, body)
    endpoint = str(body["endpoint"])
    doc = {
        "type": body["type"],
        "name": body.get("name", ""),
        "description": body.get("description", ""),
        "enabled": body.get("enabled", True),
        "config": body["config"],
    }
    now = emu.clock.now_ms()

    def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], dict[str, Any]]:
        data = ENDPOINT_DOCS.insert(conn, user, endpoint, doc, now)
        event = emu.events.stage(
            conn, "endpoint.created", {"user": user, "endpoint": endpoint, "type": doc["type"]}
        )
        return data, event

    return await commit(emu, write, lambda: svc.forget_endpoint(user, endpoint))


@routes.get(ENDPOINTS, summary="List endpoints", query=LIST_QUERY)
async def list_endpoints(request: Request) -> Response:
    """Every endpoint of the user, ordered by id; ``name``, ``count`` and ``index`` as in the device list."""
    emu, _svc, user = await account_user(request)
    keep = list_filter(request, "endpoint")
    return ok(await emu.store.read(lambda c: keep(ENDPOINT_DOCS.list(c, user))))


@routes.get(ENDPOINT, summary="Read an endpoint")
async def read_endpoint(request: Request) -> Response:
    emu, _svc, user = await account_user(request)
    endpoint = path_id(request, "endpoint")
    return ok(await emu.store.read(lambda c: ENDPOINT_DOCS.show(ENDPOINT_DOCS.get(c, user, endpoint))))


@routes.put(ENDPOINT, summary="Update an endpoint (partial)", body=request_schema("put", ENDPOINT))
async def update_endpoint(request: Request) -> Response:
    """Change the given fields (``config`` is replaced whole). ``endpoint`` cannot change."""
    emu, svc, user = await account_user(request)
    endpoint = path_id(request, "endpoint")
    body = await read_json(request)
    if not isinstance(body, dict):
        validate("put", ENDPOINT, body)
    rest = ENDPOINT_DOCS.changes(body, endpoint)
    validate("put", ENDPOINT, rest)
    now = emu.clock.now_ms()

    def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], dict[str, Any]]:
        data = ENDPOINT_DOCS.update(conn, user, endpoint, lambda doc: {**doc, **rest}, now)
        event = emu.events.stage(
            conn, "endpoint.updated", {"user": user, "endpoint": endpoint, "fields": sorted(rest)}
        )
        return data, event

    return await commit(emu, write, lambda: svc.forget_endpoint(user, endpoint))


@routes.delete(ENDPOINT, summary="Delete an endpoint")
async def delete_endpoint(request: Request) -> Response:
    emu, svc, user = await account_user(request)
    endpoint = path_id(request, "endpoint")

    def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], dict[str, Any]]:
        data = ENDPOINT_DOCS.delete(conn, user, endpoint)
        event = emu.events.stage(conn, "endpoint.deleted", {"user": user, "endpoint": endpoint})
        return data, event

    return await commit(emu, write, lambda: svc.forget_endpoint(user, endpoint))


def _answer_body(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


@routes.post(
    CALL, summary="Call an endpoint with the JSON body as its data", body=request_schema("post", CALL)
)
async def call_endpoint(request: Request) -> Response:
    """Answers ``{"status", "body"}`` of the target [chosen]; the call and its attempt land in the
    delivery journal. An email endpoint is recorded there instead of sent (``status`` null)."""
    emu, svc, user = await account_user(request)
    endpoint = path_id(request, "endpoint")
    data = await read_json_object(request)
    doc = await svc.endpoint_doc(user, endpoint)
    if doc is None:
        raise not_found("endpoint", endpoint)
    if not doc.get("enabled", True):
        raise ApiProblem(403, f"endpoint '{endpoint}' is disabled")
    etype = doc.get("type")
    message = {"endpoint": endpoint, "data": data, "source": "api"}
    if etype == "http_request":
        try:
            req = http_request(doc, data)
        except EndpointError as exc:
            raise ApiProblem(400, f"endpoint '{endpoint}' cannot be called: {exc}") from None
        result = await emu.worker.send(req)
        decision = outcome(result)
    elif etype == "email":
        result = recorded(email_record(doc, data))
        decision = None
    else:
        raise ApiProblem(
            400, f"endpoint '{endpoint}' has type '{etype}': the emulator only calls http_request endpoints"
        )
    now = emu.clock.now()

    def write(conn: sqlite3.Connection) -> str:
        did = enqueue(conn, kind="endpoint", message=message, now=now, user=user, endpoint=endpoint)
        delivery = Delivery(did, "endpoint", "pending", message, 0, now, now, user=user, endpoint=endpoint)
        record_attempt(conn, delivery, result, now)
        apply_decision(conn, delivery, decision or Decision(DROPPED, reason=EMAIL_NOTE), now)
        return str(did)

    delivery_id = await emu.store.write(write)
    if etype == "email":
        return ok({"status": None, "body": None, "delivery": delivery_id, "note": EMAIL_NOTE})
    if result.status is None:
        raise ApiProblem(
            502, f"endpoint '{endpoint}' did not answer: {result.error} (delivery {delivery_id})"
        )
    return ok({"status": result.status, "body": _answer_body(result.body), "delivery": delivery_id})
