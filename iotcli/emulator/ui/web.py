"""The inspector's request helpers: the page and action wrappers (login, CSRF, same origin), forms, login.

Pages and actions need a login; actions also a CSRF token and a same-origin request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl, quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from iotcli.emulator.core import Emulator
from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.ui.render import PREFIX, page
from iotcli.emulator.ui.security import COOKIE, HEADERS, SESSION_TTL, Session, Sessions, cross_site, csrf_ok

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
        if not csrf_ok(session, form_field(form, "csrf")):
            return page(
                request, "error.html", session, status=403, message="refused: missing or wrong CSRF token"
            )
        back = safe_next(form_field(form, "back"))
        if confirm is not None and form_field(form, "confirmed") != "1":
            fields = [(k, v) for k, v in form.items() if k not in ("csrf", "confirmed")]
            return page(request, "confirm.html", session, question=confirm, fields=fields, back=back)
        try:
            message = await fn(request, session, form)
            session.flash.append(("ok", message))
        except ApiProblem as problem:
            session.flash.append(("error", problem.message))
        return redirect(back)

    return handler


def form_field(form: Form, name: str) -> str:
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
    target = safe_next(form_field(form, "next"))
    sid = sessions(request).login(form_field(form, "token"))
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
    if session is None or not csrf_ok(session, form_field(form, "csrf")):
        return page(request, "error.html", None, status=403, message="refused: missing or wrong CSRF token")
    store.logout(request)
    response = redirect(f"{PREFIX}/login")
    response.delete_cookie(COOKIE, path="/")
    return response
