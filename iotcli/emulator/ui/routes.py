"""The inspector's routes: pages (parse the query, read through ``backend``, render) and the route list.

The helpers (login, the page and action wrappers) are in ``web.py``, the actions in ``actions.py``,
the live stream in ``stream.py``.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.http import ID_PATTERN
from iotcli.emulator.ui import backend
from iotcli.emulator.ui.actions import advance, replay, reset, set_property, uplink
from iotcli.emulator.ui.render import PREFIX, page
from iotcli.emulator.ui.security import HEADERS, Session
from iotcli.emulator.ui.stream import stream
from iotcli.emulator.ui.web import action, emu_of, login, login_form, logout, view

# -- pages ----------------------------------------------------------------------------------------


def _id(request: Request, name: str) -> str:
    value = str(request.path_params[name])
    if not ID_PATTERN.fullmatch(value):
        raise ApiProblem(400, f"invalid {name} id")
    return value


def _int(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name) or ""
    if not raw:
        return None
    if not (raw.isascii() and raw.lstrip("-").isdigit()) or len(raw) > 18:  # "²".isdigit()
        raise ApiProblem(400, f"query parameter '{name}' must be an integer")
    return int(raw)


@view
async def overview(request: Request, session: Session) -> Response:
    return page(request, "overview.html", session, data=await backend.overview(emu_of(request)))


@view
async def devices(request: Request, session: Session) -> Response:
    return page(request, "devices.html", session, devices=await backend.devices(emu_of(request)))


@view
async def device(request: Request, session: Session) -> Response:
    data = await backend.device(emu_of(request), _id(request, "device"))
    return page(request, "device.html", session, device=data)


@view
async def buckets(request: Request, session: Session) -> Response:
    return page(request, "buckets.html", session, buckets=await backend.buckets(emu_of(request)))


#: The chart's range choices: label -> seconds back from now (None: everything).
RANGES = {"1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400, "all": None}


@view
async def bucket(request: Request, session: Session) -> Response:
    emu = emu_of(request)
    chosen = request.query_params.get("range") or "all"
    if chosen not in RANGES and chosen != "custom":
        raise ApiProblem(400, f"range must be one of {', '.join(RANGES)} or custom")
    min_ts, max_ts = _int(request, "min_ts"), _int(request, "max_ts")
    if chosen in RANGES:
        back = RANGES[chosen]
        min_ts = None if back is None else emu.clock.now_ms() - back * 1000
        max_ts = None
    data = await backend.bucket(
        emu, _id(request, "bucket"), min_ts=min_ts, max_ts=max_ts, before=_int(request, "before")
    )
    return page(
        request,
        "bucket.html",
        session,
        data=data,
        ranges=list(RANGES),
        chosen=chosen,
        min_ts=min_ts,
        max_ts=max_ts,
        # Inside <script type="application/json">: no "<" may end it early (field names are user data).
        chart_json=json.dumps(data["chart"])
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026"),
    )


@view
async def endpoints(request: Request, session: Session) -> Response:
    return page(request, "endpoints.html", session, endpoints=await backend.endpoints(emu_of(request)))


@view
async def connections(request: Request, session: Session) -> Response:
    return page(request, "connections.html", session, connections=await backend.connections(emu_of(request)))


@view
async def connection(request: Request, session: Session) -> Response:
    cid = str(request.path_params["id"])[:64]
    return page(request, "connection.html", session, conn=await backend.connection(emu_of(request), cid))


@view
async def deliveries(request: Request, session: Session) -> Response:
    q = request.query_params
    filters = {k: (q.get(k) or None) for k in ("status", "connection", "device")}
    data = await backend.deliveries(emu_of(request), before=_int(request, "before"), **filters)
    return page(
        request,
        "deliveries.html",
        session,
        data=data,
        filters=filters,
        statuses=backend.STATUSES,
        query={k: v for k, v in filters.items() if v},
    )


@view
async def delivery(request: Request, session: Session) -> Response:
    raw = str(request.path_params["id"])
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise ApiProblem(404, f"delivery {raw[:32]} not found")
    return page(request, "delivery.html", session, d=await backend.delivery(emu_of(request), int(raw)))


@view
async def downlinks(request: Request, session: Session) -> Response:
    return page(request, "downlinks.html", session, downlinks=await backend.downlinks(emu_of(request)))


@view
async def events(request: Request, session: Session) -> Response:
    kind = (request.query_params.get("kind") or "")[:64]
    return page(
        request, "events.html", session, events=await backend.events(emu_of(request), kind), kind=kind
    )


@view
async def sinks(request: Request, session: Session) -> Response:
    return page(request, "sinks.html", session, sinks=await backend.sinks(emu_of(request)))


@view
async def sink(request: Request, session: Session) -> Response:
    return page(request, "sink.html", session, sink=await backend.sink(emu_of(request), _id(request, "sink")))


@view
async def not_found(request: Request, session: Session) -> Response:
    raise ApiProblem(404, f"no inspector page at {request.url.path[:120]}")


# -- mounting --------------------------------------------------------------------------------------


class SecureStatic:
    """The vendored files with the inspector's headers (no other origin may load them)."""

    def __init__(self) -> None:
        self.files = StaticFiles(packages=[("iotcli.emulator.ui", "static")])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                for key in ("Cross-Origin-Resource-Policy", "X-Content-Type-Options"):
                    headers.append((key.lower().encode(), HEADERS[key].encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.files(scope, receive, with_headers)


def routes() -> list[BaseRoute]:
    """The inspector's routes, for ``create_app`` (outside the API's route tables and OpenAPI)."""
    p = PREFIX
    return [
        Route("/", overview, methods=["GET"]),
        Route(p, overview, methods=["GET"]),
        Route(p + "/", overview, methods=["GET"]),
        Route(p + "/login", login_form, methods=["GET"]),
        Route(p + "/login", login, methods=["POST"]),
        Route(p + "/logout", logout, methods=["POST"]),
        Route(p + "/devices", devices, methods=["GET"]),
        Route(p + "/devices/{device}", device, methods=["GET"]),
        Route(p + "/buckets", buckets, methods=["GET"]),
        Route(p + "/buckets/{bucket}", bucket, methods=["GET"]),
        Route(p + "/endpoints", endpoints, methods=["GET"]),
        Route(p + "/connections", connections, methods=["GET"]),
        Route(p + "/connections/{id}", connection, methods=["GET"]),
        Route(p + "/deliveries", deliveries, methods=["GET"]),
        Route(p + "/deliveries/{id}", delivery, methods=["GET"]),
        Route(p + "/downlinks", downlinks, methods=["GET"]),
        Route(p + "/events", events, methods=["GET"]),
        Route(p + "/sinks", sinks, methods=["GET"]),
        Route(p + "/sinks/{sink}", sink, methods=["GET"]),
        Route(p + "/stream", stream, methods=["GET"]),
        Route(
            p + "/actions/deliveries/{id}/replay",
            action(replay, confirm="Send this delivery again to its destination?"),
            methods=["POST"],
        ),
        Route(
            p + "/actions/clock/advance",
            action(advance, confirm="Move the emulator clock forward? Timers due meanwhile fire at once."),
            methods=["POST"],
        ),
        Route(
            p + "/actions/reset",
            action(
                reset, confirm="Reset the emulator? Every device, bucket, connection and journal is deleted."
            ),
            methods=["POST"],
        ),
        Route(p + "/actions/uplink", action(uplink), methods=["POST"]),
        Route(p + "/actions/property", action(set_property), methods=["POST"]),
        Mount(p + "/static", app=SecureStatic(), name="inspector-static"),
        Route(p + "/{rest:path}", not_found, methods=["GET"]),
    ]
