"""``create_app(settings)``: the emulator's ASGI application, every surface on one port."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from iotcli.emulator import admin, iotflow, oauth, openapi, sinks, thinger, ui
from iotcli.emulator.core import Emulator
from iotcli.emulator.errors import (
    ApiProblem,
    error_body,
    handle_http_exception,
    handle_overflow,
    handle_problem,
    handle_unexpected,
)
from iotcli.emulator.hotpath import EmulatorApp
from iotcli.emulator.iotflow import schema as iotflow_schema
from iotcli.emulator.jsonpolicy import repair_stored
from iotcli.emulator.routing import RouteTable, starlette_routes
from iotcli.emulator.settings import EmulatorSettings
from iotcli.emulator.thinger import schema as thinger_schema
from iotcli.store.schema import CORE


def route_tables() -> list[RouteTable]:
    """Every route table of the emulator, in mount order (also the OpenAPI document's source)."""
    # The Thinger tables first: their callback ingest route (the hot path) is then matched first.
    return [
        *thinger.ROUTE_TABLES,
        admin.routes,
        openapi.routes,
        oauth.routes,
        *iotflow.ROUTE_TABLES,
        *sinks.ROUTE_TABLES,
    ]


def migrations() -> list[tuple[str, list[str]]]:
    return [
        ("core", CORE),
        ("thinger", thinger_schema.MIGRATIONS),
        ("iotflow", iotflow_schema.MIGRATIONS),
        ("sinks", sinks.MIGRATIONS),
    ]


def attach_services(emu: Emulator) -> None:
    """Let each surface attach its service object and delivery policies to the emulator."""
    thinger.attach(emu)
    iotflow.attach(emu)
    sinks.attach(emu)
    ui.attach(emu)


def create_app(settings: EmulatorSettings | None = None) -> Starlette:
    """Build the emulator app. Its lifespan opens the store and starts the workers."""
    settings = settings or EmulatorSettings()
    emu = Emulator(settings, migrations())
    # Before the services' hooks load their caches: rows older versions stored that cannot be read back.
    emu.start_hooks.append(functools.partial(repair_stored_json, emu))
    attach_services(emu)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await emu.start()
        try:
            yield
        finally:
            await emu.stop()

    tables = route_tables()
    app = EmulatorApp(
        hot=[spec for table in tables for spec in table.specs if spec.hot],
        max_body=settings.max_body,
        # The inspector's pages are not API routes: they stay out of the OpenAPI document.
        routes=[*starlette_routes(tables), *ui.routes()],
        exception_handlers={
            ApiProblem: handle_problem,
            HTTPException: handle_http_exception,
            OverflowError: handle_overflow,
        },
        lifespan=lifespan,
    )
    app.state.emu = emu
    app.state.route_tables = tables  # the OpenAPI document's source (openapi.py)
    app.add_middleware(BodyLimit, max_body=settings.max_body)  # type: ignore[arg-type]
    app.add_middleware(CatchAll)  # type: ignore[arg-type]
    return app


async def repair_stored_json(emu: Emulator) -> None:
    """The start-up check of the JSON policy (``jsonpolicy.repair_stored``): reported in the log and journal."""
    report = await emu.store.write(repair_stored)
    for line in report:
        logging.getLogger("iotcli.emulator").warning("stored data repaired: %s", line)
        await emu.events.record("store.repaired", detail=line)


class CatchAll:
    """Turns any unexpected exception into a JSON 500 without a traceback (to the client or the log)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:  # noqa: BLE001 - the boundary
            from starlette.requests import Request

            response = await handle_unexpected(Request(scope), exc)
            if not started:
                await response(scope, receive, send)


class BodyLimit:
    """Answers 413 for request bodies over ``max_body`` bytes, before the route reads them whole."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    await self._reject(scope, send, 400, "invalid Content-Length header")
                    return
                if length > self.max_body:
                    await self._reject(scope, send, 413, self._message(length))
                    return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise ApiProblem(413, self._message(received))
            return message

        await self.app(scope, limited_receive, send)

    def _message(self, size: int) -> str:
        return f"request body too large: {size} bytes, the limit is {self.max_body} bytes (--max-body)"

    async def _reject(self, scope: Scope, send: Send, status: int, message: str) -> None:
        import json

        body: Any = error_body(scope.get("path", ""), status, message)
        data = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})
