"""Endpoints: their configuration (a document resource), calls made through the API, and the outbox
policy that makes the calls device callbacks and bucket exports queue."""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Any

from iotcli.delivery.outbox import (
    DROPPED,
    FAILED,
    AttemptResult,
    Decision,
    Delivery,
    OutboundRequest,
    apply_decision,
    enqueue,
    record_attempt,
)
from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.thinger.backend.documents import DocumentResource, Documents
from iotcli.emulator.thinger.backend.state import Caches, not_found
from iotcli.emulator.thinger.calls import (
    EMAIL_NOTE,
    EndpointError,
    email_record,
    http_request,
    outcome,
    recorded,
)

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator

ENDPOINT_DOCS = Documents("th_endpoints", "endpoint")


def _answer_body(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


class Endpoints:
    """The endpoint backend (``ThingerBackend.endpoints``)."""

    def __init__(self, emu: Emulator, caches: Caches) -> None:
        self.emu = emu
        self.caches = caches
        self.docs = DocumentResource(
            emu, ENDPOINT_DOCS, lambda scope, name: caches.endpoints.forget(scope[0], name)
        )

    async def create(self, user: str, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        doc = {
            "type": body["type"],
            "name": body.get("name", ""),
            "description": body.get("description", ""),
            "enabled": body.get("enabled", True),
            "config": body["config"],
        }
        data = {"user": user, "endpoint": endpoint, "type": doc["type"]}
        return await self.docs.create((user,), endpoint, doc, "endpoint.created", data)

    async def all(self, user: str) -> list[dict[str, Any]]:
        return await self.docs.all((user,))

    async def read(self, user: str, endpoint: str) -> dict[str, Any]:
        return await self.docs.read((user,), endpoint)

    async def update(self, user: str, endpoint: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Change the given fields (``config`` is replaced whole)."""
        data = {"user": user, "endpoint": endpoint, "fields": sorted(changes)}
        return await self.docs.update(
            (user,), endpoint, lambda doc: {**doc, **changes}, "endpoint.updated", data
        )

    async def delete(self, user: str, endpoint: str) -> dict[str, Any]:
        data = {"user": user, "endpoint": endpoint}
        return await self.docs.delete((user,), endpoint, "endpoint.deleted", data)

    async def call(self, user: str, endpoint: str, data: dict[str, Any]) -> dict[str, Any]:
        """Call it with ``data``: ``{"status", "body", "delivery"}`` of the target [chosen]; the call and its
        attempt land in the delivery journal. An email endpoint is recorded there instead of sent."""
        emu = self.emu
        doc = await self.caches.endpoints.get(user, endpoint)
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
                400,
                f"endpoint '{endpoint}' has type '{etype}': the emulator only calls http_request endpoints",
            )
        now = emu.clock.now()

        def write(conn: sqlite3.Connection) -> str:
            did = enqueue(conn, kind="endpoint", message=message, now=now, user=user, endpoint=endpoint)
            delivery = Delivery(
                did, "endpoint", "pending", message, 0, now, now, user=user, endpoint=endpoint
            )
            record_attempt(conn, delivery, result, now)
            apply_decision(conn, delivery, decision or Decision(DROPPED, reason=EMAIL_NOTE), now)
            return str(did)

        delivery_id = await emu.store.write(write)
        if etype == "email":
            return {"status": None, "body": None, "delivery": delivery_id, "note": EMAIL_NOTE}
        if result.status is None:
            raise ApiProblem(
                502, f"endpoint '{endpoint}' did not answer: {result.error} (delivery {delivery_id})"
            )
        return {"status": result.status, "body": _answer_body(result.body), "delivery": delivery_id}


class EndpointPolicy:
    """Outbox policy of kind ``endpoint``: endpoint calls made by device callbacks."""

    def __init__(self, emu: Emulator, caches: Caches) -> None:
        self.emu = emu
        self.caches = caches

    async def prepare(self, delivery: Delivery) -> OutboundRequest | Decision:
        user = delivery.user or ""
        name = delivery.endpoint or ""
        doc = await self.caches.endpoints.get(user, name)
        if doc is None:
            return Decision(FAILED, reason=f"endpoint '{name}' not found", count_attempt=False)
        if not doc.get("enabled", True):
            return Decision(DROPPED, reason=f"endpoint '{name}' is disabled", count_attempt=False)
        data = delivery.message.get("data")
        etype = doc.get("type")
        if etype == "email":
            req = email_record(doc, data)
            now = self.emu.clock.now()
            await self.emu.store.write(lambda c: record_attempt(c, delivery, recorded(req), now))
            return Decision(DROPPED, reason=EMAIL_NOTE)
        if etype != "http_request":
            return Decision(
                DROPPED, reason=f"endpoint type '{etype}' is not emulated: nothing sent", count_attempt=False
            )
        try:
            return http_request(doc, data)
        except EndpointError as exc:
            return Decision(FAILED, reason=f"endpoint '{name}': {exc}", count_attempt=False)

    def decide(self, delivery: Delivery, result: AttemptResult) -> Decision:
        return outcome(result)

    def lane_limit(self, delivery: Delivery) -> int:
        return 64

    async def after(self, delivery: Delivery, result: AttemptResult | None, decision: Decision) -> None:
        if decision.status == FAILED:
            await self.emu.events.record(
                "endpoint.failed",
                user=delivery.user,
                device=delivery.device,
                endpoint=delivery.endpoint,
                delivery=str(delivery.id),
                reason=decision.reason,
            )
