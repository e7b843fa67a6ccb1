"""The inspector's routes: pages (parse the query, read through ``backend``, render) and actions.

Actions go through the emulator's own API in-process (same validation, same events, same answers as
``curl`` would get), authenticated with the account token on the server side: the browser never
holds it. Pages and actions need a login; actions also a CSRF token and a same-origin request.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, quote

import httpx
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from iotcli.emulator.core import Emulator
from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.events import CLOSED
from iotcli.emulator.http import ID_PATTERN
from iotcli.emulator.ui import backend
from iotcli.emulator.ui.render import PREFIX, page
from iotcli.emulator.ui.security import COOKIE, HEADERS, SESSION_TTL, Session, Sessions, cross_site, csrf_ok

#: The live stream sends at most one batch per this many seconds, of at most ``STREAM_BATCH``
#: events: an open page costs the emulator a few writes a second, whatever the load.
STREAM_EVERY = 0.25
STREAM_BATCH = 50
SSE_KEEPALIVE = 15.0

Page = Callable[[Request, Session], Awaitable[Response]]
Form = dict[str, str]
Action = Callable[[Request, Session, Form], Awaitable[str]]


def emu_of(request: Request) -> Emulator:
    emu: Emulator = request.app.state.emu
    return emu


def sessions(request: Request) -> Sessions:
    found: Sessions = emu_of(request).services["ui"]
    return found


def redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303, headers=HEADERS)


def safe_next(value: str | None) -> str:
    """Only a path of the inspector itself (no open redirect to another site)."""
    if value and value.startswith(PREFIX) and not value.startswith("//") and "\\" not in value:
        return value
    return PREFIX + "/"


def view(fn: Page) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        session = sessions(request).of(request)
        if session is None:
            here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return redirect(f"{PREFIX}/login?next={quote(here)}")
        try:
            return await fn(request, session)
        except ApiProblem as problem:
            return page(request, "error.html", session, status=problem.status, message=problem.message)

    return handler


def action(fn: Action, *, confirm: str | None = None) -> Callable[[Request], Awaitable[Response]]:
    """A POST: same origin, logged in, right CSRF token; ``confirm``: ask first (unless ``confirmed=1``)."""

    async def handler(request: Request) -> Response:
        reason = cross_site(request)
        if reason is not None:
            return page(request, "error.html", None, status=403, message=f"refused: {reason}")
        session = sessions(request).of(request)
        if session is None:
            return page(request, "error.html", None, status=401, message="log in to the inspector first")
        form = await read_form(request)
        if not csrf_ok(session, _field(form, "csrf")):
            return page(
                request, "error.html", session, status=403, message="refused: missing or wrong CSRF token"
            )
        back = safe_next(_field(form, "back"))
        if confirm is not None and _field(form, "confirmed") != "1":
            fields = [(k, v) for k, v in form.items() if k not in ("csrf", "confirmed")]
            return page(request, "confirm.html", session, question=confirm, fields=fields, back=back)
        try:
            message = await fn(request, session, form)
            session.flash.append(("ok", message))
        except ApiProblem as problem:
            session.flash.append(("error", problem.message))
        return redirect(back)

    return handler


def _field(form: Form, name: str) -> str:
    return form.get(name, "").strip()


async def read_form(request: Request) -> Form:
    """An ``application/x-www-form-urlencoded`` body (every form of the inspector is one)."""
    raw = await request.body()
    try:
        return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        return {}


# -- login ----------------------------------------------------------------------------------------


async def login_form(request: Request) -> Response:
    return page(request, "login.html", None, next=safe_next(request.query_params.get("next")), error=None)


async def login(request: Request) -> Response:
    reason = cross_site(request)
    if reason is not None:
        return page(request, "error.html", None, status=403, message=f"refused: {reason}")
    form = await read_form(request)
    target = safe_next(_field(form, "next"))
    sid = sessions(request).login(_field(form, "token"))
    if sid is None:
        return page(
            request, "login.html", None, status=401, next=target, error="That is not the account token."
        )
    response = redirect(target)
    response.set_cookie(
        COOKIE,
        sid,
        max_age=int(SESSION_TTL),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


async def logout(request: Request) -> Response:
    reason = cross_site(request)
    if reason is not None:
        return page(request, "error.html", None, status=403, message=f"refused: {reason}")
    store = sessions(request)
    session = store.of(request)
    form = await read_form(request)
    if session is None or not csrf_ok(session, _field(form, "csrf")):
        return page(request, "error.html", None, status=403, message="refused: missing or wrong CSRF token")
    store.logout(request)
    response = redirect(f"{PREFIX}/login")
    response.delete_cookie(COOKIE, path="/")
    return response


# -- pages ----------------------------------------------------------------------------------------


def _id(request: Request, name: str) -> str:
    value = str(request.path_params[name])
    if not ID_PATTERN.match(value):
        raise ApiProblem(400, f"invalid {name} id")
    return value


def _int(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name) or ""
    if not raw:
        return None
    if not raw.lstrip("-").isdigit() or len(raw) > 18:
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
    if not raw.isdigit() or len(raw) > 18:
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


# -- the live stream ------------------------------------------------------------------------------


async def stream(request: Request) -> Response:
    """The one shared event stream, as Server-Sent Events batches: ``data: [event, ...]``."""
    if cross_site(request) is not None or sessions(request).of(request) is None:
        return Response("log in to the inspector first\n", status_code=401, headers=HEADERS)
    emu = emu_of(request)
    queue = emu.events.follow()

    async def body() -> AsyncIterator[str]:
        try:
            yield ": following\n\n"
            while True:
                try:
                    first = await asyncio.wait_for(queue.get(), timeout=SSE_KEEPALIVE)
                except TimeoutError:
                    if await request.is_disconnected():
                        break
                    yield ": keep-alive\n\n"
                    continue
                batch = [first]
                while not queue.empty():
                    batch.append(queue.get_nowait())
                if any(e is CLOSED for e in batch) or not emu.events.following(queue) and queue.empty():
                    yield ": end\n\n"
                    break
                skipped = max(0, len(batch) - STREAM_BATCH)
                shown = batch[-STREAM_BATCH:]
                yield f"id: {shown[-1]['id']}\ndata: {json.dumps({'events': shown, 'skipped': skipped})}\n\n"
                await asyncio.sleep(STREAM_EVERY)
        finally:
            emu.events.unfollow(queue)

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={**HEADERS, "X-Accel-Buffering": "no"},
    )


# -- actions --------------------------------------------------------------------------------------


async def call_api(request: Request, method: str, path: str, body: Any = None) -> Any:
    """The emulator's own API, in-process, as the account: its answer, or an ApiProblem with its message."""
    emu = emu_of(request)
    peer = request.client.host if request.client else "127.0.0.1"
    transport = httpx.ASGITransport(app=request.app, client=(peer, 0))
    async with httpx.AsyncClient(transport=transport, base_url=emu.settings.base_url) as client:
        answer = await client.request(
            method, path, json=body, headers={"Authorization": f"Bearer {emu.account_token}"}
        )
    try:
        data = answer.json() if answer.content else None
    except ValueError:
        data = answer.text
    if answer.status_code >= 400:
        message = data
        if isinstance(data, dict):
            inner = data.get("error")
            message = inner.get("message") if isinstance(inner, dict) else data.get("message", data)
        raise ApiProblem(answer.status_code, f"{answer.status_code}: {message}")
    return data


async def replay(request: Request, session: Session, form: Form) -> str:
    raw = str(request.path_params["id"])
    if not raw.isdigit():
        raise ApiProblem(404, f"delivery {raw[:32]} not found")
    await call_api(request, "POST", f"/_emulator/deliveries/{raw}/replay")
    return f"Delivery {raw} is pending again: it is being sent."


async def advance(request: Request, session: Session, form: Form) -> str:
    try:
        seconds = float(_field(form, "seconds"))
    except ValueError:
        raise ApiProblem(400, "seconds must be a number") from None
    clock = await call_api(request, "POST", "/_emulator/clock/advance", {"seconds": seconds})
    return f"Clock advanced by {seconds:g} s: it is now {clock['iso']}."


async def reset(request: Request, session: Session, form: Form) -> str:
    await call_api(request, "POST", "/_emulator/reset")
    return "The emulator was reset: every device, bucket, connection and journal is gone."


def _json_value(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise ApiProblem(400, f"{what} is not valid JSON") from None


async def uplink(request: Request, session: Session, form: Form) -> str:
    emu = emu_of(request)
    if _field(form, "target") == "lorawan":
        body: dict[str, Any] = {"DevEUI": _field(form, "deveui"), "FPort": _field(form, "fport") or "1"}
        try:
            body["FPort"] = int(body["FPort"])
        except ValueError:
            raise ApiProblem(400, "FPort must be a number") from None
        body["payload_hex"] = _field(form, "payload_hex")
        answer = await call_api(request, "POST", "/_emulator/lorawan/uplinks", body)
        sent_to = ", ".join(answer.get("connections") or []) or "no connection"
        return f"LoRaWAN uplink FCntUp {answer.get('FCntUp')} accepted, forwarded to {sent_to}."
    name = _field(form, "device")
    if not ID_PATTERN.match(name):
        raise ApiProblem(400, "choose a device")
    payload = _json_value(_field(form, "data") or "{}", "the payload")
    user = emu.settings.user
    answer = await call_api(request, "POST", f"/v3/users/{user}/devices/{name}/callback/data", payload)
    shown = "" if answer in (None, "") else f" The device got back: {json.dumps(answer)[:200]}"
    return f"Uplink sent to device {name}.{shown}"


async def set_property(request: Request, session: Session, form: Form) -> str:
    emu = emu_of(request)
    name, prop = _field(form, "device"), _field(form, "property")
    if not ID_PATTERN.match(name) or not ID_PATTERN.match(prop):
        raise ApiProblem(400, "device and property need ids of 1-32 letters, digits, '_' or '-'")
    raw = _field(form, "value")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw  # plain text is a string value
    user = emu.settings.user
    await call_api(request, "PUT", f"/v3/users/{user}/devices/{name}/properties/{prop}", {"value": value})
    return f"Property {prop} of {name} set."


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
