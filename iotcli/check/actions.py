"""The actions a step can do: HTTP-device and LoRaWAN uplinks, a downlink, a device token, a clock
advance, a wait (``ACTIONS``, by the step's action key)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from iotcli.check.context import Context
from iotcli.errors import IotcliError
from iotcli.models.lorawan import LORAWAN_UPLINKS_PATH, downlink_body

if TYPE_CHECKING:
    pass


def _emu_now(ctx: Context) -> float | None:
    if not ctx.emulator:
        return None
    try:
        return float(ctx.api.clock()["now"])
    except IotcliError:
        return None


# -- actions -----------------------------------------------------------------------------------------


def _answer(response: httpx.Response) -> dict[str, Any]:
    try:
        body: Any = response.json() if response.content else None
    except ValueError:
        body = response.text
    return {"status": response.status_code, "json": body, "headers": dict(response.headers)}


def _request(
    ctx: Context, method: str, url: str, *, body: Any, token: str | None = None, auth: bool = True
) -> dict[str, Any]:
    """One request whose answer, whatever its status, is the step's answer (a 4xx is not an error here)."""
    from iotcli.client.base import network_error

    headers = ctx.api._headers({"Authorization": f"Bearer {token}"} if token else None) if auth else {}
    try:
        response = ctx.api.http.request(method, url, json=body, headers=headers)
    except httpx.TransportError as exc:
        raise network_error(ctx.api.base_url, exc) from None
    ctx.last = _answer(response)
    return ctx.last


def _repeat(spec: dict[str, Any]) -> range:
    return range(1, int(spec.get("repeat", 1)) + 1)


def _statuses(codes: list[int]) -> str:
    counts: dict[int, int] = {}
    for c in codes:
        counts[c] = counts.get(c, 0) + 1
    return ", ".join(f"HTTP {c}" + (f" ×{n}" if n > 1 else "") for c, n in counts.items())


def do_uplink(ctx: Context, spec: dict[str, Any]) -> str:
    device = ctx.fill(spec["device"])
    token = ctx.fill(spec["token"]) if "token" in spec else None
    url = ctx.api.callback_url(device)
    codes = []
    for i in _repeat(spec):
        answer = _request(ctx, "POST", url, body=ctx.fill(spec.get("data", {}), i=i), token=token)
        codes.append(answer["status"])
    n = len(codes)
    return f"{n} uplink{'s' * (n != 1)} to device '{device}': {_statuses(codes)}"


def do_lorawan(ctx: Context, spec: dict[str, Any]) -> str:
    deveui = ctx.fill(spec["deveui"])
    codes = []
    for i in _repeat(spec):
        body: dict[str, Any] = {
            "DevEUI": deveui,
            "FPort": spec["fport"],
            **ctx.fill(spec.get("fields", {}), i=i),
        }
        for key in ("payload_hex", "payload"):
            if key in spec:
                body[key] = ctx.fill(spec[key], i=i)
        answer = _request(ctx, "POST", LORAWAN_UPLINKS_PATH, body=body)
        codes.append(answer["status"])
    n = len(codes)
    return f"{n} LoRaWAN uplink{'s' * (n != 1)} from {deveui}: {_statuses(codes)}"


def do_downlink(ctx: Context, spec: dict[str, Any]) -> str:
    if "url" in spec:
        url = str(ctx.fill(spec["url"]))
    else:
        url = ctx.api.downlink_url(ctx.connection_id(ctx.fill(spec["connection"])))
    fields = {k: ctx.fill(v) for k, v in spec.items() if k not in ("url", "connection")}
    target = url if url.startswith(("http://", "https://")) else ctx.api.base_url + "/" + url.lstrip("/")
    same = target.startswith(ctx.api.base_url.rstrip("/") + "/")
    answer = _request(ctx, "POST", target, body=downlink_body(fields), auth=same)
    return f"downlink to {fields.get('DevEUI', '?')}: HTTP {answer['status']}"


def do_token(ctx: Context, spec: dict[str, Any]) -> str:
    device, name = ctx.fill(spec["device"]), ctx.fill(spec["name"])
    created = ctx.api.create_device_token(device, name)
    ctx.last = {"status": 200, "json": created, "headers": {}}
    return f"token '{name}' of device '{device}' created"


def do_advance(ctx: Context, seconds: float) -> str:
    clock = ctx.api.advance_clock(seconds)
    ctx.last = {"status": 200, "json": clock, "headers": {}}
    return f"emulator clock advanced {seconds:g}s to {clock.get('iso', clock.get('now'))}"


def do_wait(ctx: Context, spec: dict[str, Any]) -> str:
    from iotcli.waiting import (
        BucketRecords,
        Condition,
        Deliveries,
        DeviceConnection,
        Downlinks,
        EventSeen,
        SinkRequests,
        wait_for,
    )

    s = ctx.fill(spec)
    count = int(s.get("count", 1))
    condition: Condition
    if "sink" in s:
        header = field_ = None
        if "header" in s:
            k, sep, v = s["header"].partition("=")
            header = (k.strip(), v if sep else None)
        if "field" in s:
            p, _, v = s["field"].partition("=")
            field_ = (p.strip(), v)
        condition = SinkRequests(s["sink"], count, header, field_)
    elif "bucket" in s:
        condition = BucketRecords(s["bucket"], count)
    elif "deliveries" in s:
        conn = ctx.connection_id(s["connection"]) if "connection" in s else None
        condition = Deliveries(s["deliveries"], count, connection=conn, device=s.get("device"))
    elif "device" in s:
        condition = DeviceConnection(s["device"], bool(s["connected"]))
    elif "downlinks" in s:
        condition = Downlinks(s["downlinks"], count, s.get("deveui"))
    else:
        condition = EventSeen(s.get("event") or s["events"], count, after=ctx.events_after)
    seen = wait_for(ctx.api, condition, timeout=float(s["timeout"]), clock=s.get("clock", "wall"))
    ctx.last = {"status": 200, "json": seen.data, "headers": {}}
    return f"waited for {condition.describe()}: {seen.seen}"


ACTIONS: dict[str, Callable[[Context, Any], str]] = {
    "uplink": do_uplink,
    "lorawan": do_lorawan,
    "downlink": do_downlink,
    "token": do_token,
    "advance": do_advance,
    "wait": do_wait,
}
