"""The inspector's actions (replay, clock, reset, test uplink, property): each one call of the emulator's API.

Actions go through the emulator's own API in-process (same validation, same events, same answers as
``curl`` would get), authenticated with the account token on the server side: the browser never
holds it. ``web.action`` wraps each in the login, CSRF and same-origin checks.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from starlette.requests import Request

from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.http import ID_PATTERN
from iotcli.emulator.ui.security import Session
from iotcli.emulator.ui.web import Form, emu_of, form_field
from iotcli.models.lorawan import LORAWAN_UPLINKS_PATH


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
        seconds = float(form_field(form, "seconds"))
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
    if form_field(form, "target") == "lorawan":
        body: dict[str, Any] = {
            "DevEUI": form_field(form, "deveui"),
            "FPort": form_field(form, "fport") or "1",
        }
        try:
            body["FPort"] = int(body["FPort"])
        except ValueError:
            raise ApiProblem(400, "FPort must be a number") from None
        body["payload_hex"] = form_field(form, "payload_hex")
        answer = await call_api(request, "POST", LORAWAN_UPLINKS_PATH, body)
        sent_to = ", ".join(answer.get("connections") or []) or "no connection"
        return f"LoRaWAN uplink FCntUp {answer.get('FCntUp')} accepted, forwarded to {sent_to}."
    name = form_field(form, "device")
    if not ID_PATTERN.fullmatch(name):
        raise ApiProblem(400, "choose a device")
    payload = _json_value(form_field(form, "data") or "{}", "the payload")
    user = emu.settings.user
    answer = await call_api(request, "POST", f"/v3/users/{user}/devices/{name}/callback/data", payload)
    shown = "" if answer in (None, "") else f" The device got back: {json.dumps(answer)[:200]}"
    return f"Uplink sent to device {name}.{shown}"


async def set_property(request: Request, session: Session, form: Form) -> str:
    emu = emu_of(request)
    name, prop = form_field(form, "device"), form_field(form, "property")
    if not ID_PATTERN.fullmatch(name) or not ID_PATTERN.fullmatch(prop):
        raise ApiProblem(400, "device and property need ids of 1-32 letters, digits, '_' or '-'")
    raw = form_field(form, "value")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw  # plain text is a string value
    user = emu.settings.user
    await call_api(request, "PUT", f"/v3/users/{user}/devices/{name}/properties/{prop}", {"value": value})
    return f"Property {prop} of {name} set."
