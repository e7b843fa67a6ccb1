"""send-uplink's command line -> a RequestPlan: targets, body sources, LoRaWAN and the downlinkUrl choice.

Every mistake is a UsageError naming the option or item (exit code 2).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from iotcli.cli.state import CliState
from iotcli.errors import UsageError

if TYPE_CHECKING:
    from iotcli.cli.send_options import SendOptions
    from iotcli.sending.request import RequestPlan


def build_plan(state: CliState, o: SendOptions) -> RequestPlan:
    """Turn the command line into a RequestPlan; every mistake is a UsageError naming it."""
    from iotcli.sending import request as rq
    from iotcli.sending.items import parse_items

    items, connections = list(o.items or []), list(o.connection or [])
    device, url, deveui, to, token = o.device, o.url, o.deveui, o.to, o.token
    payload_hex, payload, data, file = o.payload_hex, o.payload, o.data, o.file

    targets = [name for name, given in (("--device", device), ("--url", url), ("--deveui", deveui)) if given]
    if not targets:
        raise UsageError(
            "nothing to send to: give --device ID, --url URL or --deveui HEX",
            hint="example: iotcli send-uplink --device sensor-1 temp:=21.5",
        )
    if len(targets) > 1:
        raise UsageError(f"{' and '.join(targets)} exclude each other: pick one target")
    if deveui is None:
        for name, given in (
            ("--to", to),
            ("--payload-hex", payload_hex),
            ("--payload", payload),
            ("--connection", connections),
        ):
            if given:
                raise UsageError(f"{name} belongs to a LoRaWAN uplink: add --deveui")

    stdin_items = [i for i in items if i == "-"]
    items = [i for i in items if i != "-"]
    parsed = parse_items(items)
    extra_headers = [rq.parse_header(h) for h in o.header or []] + parsed.headers

    sources = [
        name
        for name, given in (
            ("--data", data),
            ("--file", file),
            ("'-' (stdin)", stdin_items),
            ("items", parsed.body is not None),
        )
        if given
    ]
    if len(sources) > 1:
        raise UsageError(f"the body comes from one source only: got {', '.join(sources)}")
    body_text: str | None = None
    body_source = ""
    if data is not None:
        body_text, body_source = data, "--data"
    elif file is not None or stdin_items:
        body_text, body_source = _read_body_file(file or "-"), f"--file {file or '-'}"

    method = o.method.upper()
    if deveui is not None:
        return _lorawan_plan(
            state,
            rq,
            deveui=deveui,
            fport=o.fport,
            payload_hex=payload_hex,
            payload=payload,
            connections=connections,
            to=to,
            downlink_url=o.downlink_url,
            # Printing or a dry run asks no emulator for the downlinkUrl.
            no_downlink_url=o.no_downlink_url or bool(o.print_as) or o.dry_run,
            fcnt=o.fcnt,
            overrides=_overrides(parsed.body, body_text, body_source),
            headers=extra_headers,
            query=parsed.query,
            token=token,
        )

    body = None
    if parsed.body is not None:
        body = rq.json_body(parsed.body)
    elif body_text is not None:
        body = rq.text_body(body_text, source=body_source, must_be_json=body_source == "--data")
    auth: str | None
    if device is not None:
        target_url = rq.device_url(state.server, state.user, device)
        auth = token or state.require_token()
        kind = "device"
    else:
        assert url is not None
        target_url = rq.check_url(url)
        # Never send the profile's token to an arbitrary URL: only send-uplink's own --token goes there.
        auth = token
        kind = "url"
    plan_headers = rq.base_headers(auth, body=body is not None)
    for k, v in extra_headers:
        rq.set_header(plan_headers, k, v)
    return rq.RequestPlan(method, rq.with_query(target_url, parsed.query), plan_headers, body, target=kind)


def _read_body_file(path: str) -> str:
    if path == "-":
        raw = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
        where = "stdin"
    else:
        try:
            raw = Path(path).expanduser().read_bytes()
        except OSError as exc:
            raise UsageError(f"--file {path}: {exc.strerror or exc}") from None
        where = path
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"the body from {where} is not UTF-8 text") from None


def _overrides(items_body: dict[str, Any] | None, text: str | None, source: str) -> dict[str, Any] | None:
    """For LoRaWAN targets, the body items / --data / --file set fields of DevEUI_uplink."""
    if items_body is not None:
        return items_body
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{source}: DevEUI_uplink fields must be a JSON object ({exc})") from None
    if not isinstance(value, dict):
        raise UsageError(f"{source}: DevEUI_uplink fields must be a JSON object")
    return value


def _lorawan_plan(
    state: CliState,
    rq: Any,
    *,
    deveui: str,
    fport: int,
    payload_hex: str | None,
    payload: str | None,
    connections: list[str],
    to: str | None,
    downlink_url: str | None,
    no_downlink_url: bool,
    fcnt: int,
    overrides: dict[str, Any] | None,
    headers: list[tuple[str, str]],
    query: list[tuple[str, str]],
    token: str | None,
) -> RequestPlan:
    from iotcli.models.lorawan import LORAWAN_UPLINKS_PATH
    from iotcli.sending import iotflow

    eui = rq.normalize_deveui(deveui)
    rq.check_fport(fport)
    if payload_hex is None and payload is None:
        raise UsageError("a LoRaWAN uplink needs --payload-hex HEX or --payload JSON")
    hexed = rq.check_payload_hex(payload_hex) if payload_hex is not None else None
    decoded = rq.decoded_payload(payload) if payload is not None else None
    if to is None:
        body = rq.ingress_body(eui, fport, hexed, decoded, connections, overrides)
        plan_headers = rq.base_headers(token or state.require_token(), body=True)
        target_url = f"{state.server}{LORAWAN_UPLINKS_PATH}"
        kind = "lorawan"
    else:
        target_url = rq.check_url(to, "--to")
        link = downlink_url
        if link is None and connections:
            link = state.client().downlink_url(connections[0])
        elif link is None and not no_downlink_url:
            link = discover_downlink_url(state, to)
        body = iotflow.uplink_message(
            eui, fport, payload_hex=hexed, payload=decoded, downlink=link, overrides=overrides
        )
        plan_headers = rq.base_headers(token, body=True)
        kind = "iotflow"
    for k, v in headers:
        rq.set_header(plan_headers, k, v)
    return rq.RequestPlan(
        "POST",
        rq.with_query(target_url, query),
        plan_headers,
        rq.json_body(body),
        target=kind,
        fcnt_start=fcnt,
    )


def discover_downlink_url(state: CliState, to: str) -> str | None:
    """With --to and no --connection: ask the emulator at the profile's server which connection this is.

    The connection whose destinationURL is --to wins; else the only active connection; else none
    (then the uplink carries no downlinkUrl and a note says how to add one).
    """
    from iotcli.sending.iotflow import downlink_url

    token = state.token
    note = "no downlinkUrl in the uplink: pass --connection ID (or --downlink-url URL)"
    try:
        client = state.client()
        client.health()
        conns = client.call("GET", "/iot-flow/v1/connections") if token else None
    except Exception:  # noqa: BLE001 - no emulator there is a normal case
        state.out.info(f"{note}; no emulator answered at {state.server}")
        return None
    if isinstance(conns, dict):
        conns = conns.get("connections") or conns.get("data") or []
    if not isinstance(conns, list):
        state.out.info(note)
        return None
    wanted = to.rstrip("/")
    matching = [
        c
        for c in conns
        if str((c.get("configuration") or {}).get("destinationURL", "")).rstrip("/") == wanted
    ]
    active = [c for c in conns if c.get("active", True)]
    chosen = matching[0] if matching else (active[0] if len(active) == 1 else None)
    if chosen is None:
        state.out.info(
            f"{note}; {len(active)} active connections at {state.server}, none with destinationURL {to}"
        )
        return None
    given = chosen.get("downlinkUrl")
    if isinstance(given, str) and given:
        # The connection's own downlinkUrl (its UUID is not its id), on the server this CLI talks to.
        return state.server.rstrip("/") + urlsplit(given).path
    return downlink_url(state.server, str(chosen["id"]))
