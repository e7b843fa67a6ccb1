"""``iotcli downlink send|list``: queue LoRaWAN downlinks through a connection's downlinkUrl."""

import json
import re
from enum import StrEnum
from typing import Annotated, Any

import typer

from iotcli.cli.state import get_state
from iotcli.errors import UsageError
from iotcli.models import lorawan

#: CorrelationID: "64 bits hexadecimal", 1 to 16 digits (the docs show 4434704901C7450B and 1234).
CORRELATION = re.compile(r"^[0-9a-fA-F]{1,16}$")

COLUMNS = [
    ("id", "ID"),
    ("DevEUI", "DEVEUI"),
    ("FPort", "FPORT"),
    ("FCntDn", "FCNTDN"),
    ("status", "STATUS"),
    ("cause", "CAUSE"),
    ("connection", "CONNECTION"),
    ("payload_hex", "PAYLOAD"),
]

downlink_app = typer.Typer(
    help="LoRaWAN downlinks (IoT Flow style): queue one for a device, list the emulator's queue.",
    no_args_is_help=True,
)


class DownlinkStatus(StrEnum):
    queued = "queued"
    sent = "sent"
    rejected = "rejected"
    expired = "expired"


def register(app: typer.Typer) -> None:
    app.add_typer(downlink_app, name="downlink")


def normalize_deveui(value: str) -> str:
    deveui = lorawan.normalize_deveui(value, strip=True)
    if deveui is None:
        raise UsageError(f"--deveui '{value}' is not 16 hex digits (dashes allowed)")
    return deveui


def build_downlink(
    *,
    deveui: str,
    fport: int | None,
    payload_hex: str | None,
    payload: str | None,
    confirmed: bool,
    flush: bool,
    validity_time: str | None,
    fcntdn: int | None,
    correlation_id: str | None,
    as_id: str | None,
    as_key: str | None,
    afcntdn: int | None = None,
) -> dict[str, Any]:
    """The inner ``DevEUI_downlink`` object, checked for what is obviously wrong."""
    if (payload_hex is None) == (payload is None):
        raise UsageError("give exactly one of --payload-hex HEX or --payload JSON")
    body: dict[str, Any] = {"DevEUI": normalize_deveui(deveui)}
    if fport is not None:
        body["FPort"] = fport
    if payload_hex is not None:
        if not payload_hex or not lorawan.is_payload_hex(payload_hex):  # one byte at least
            raise UsageError(f"--payload-hex '{payload_hex}' is not hex (an even number of 0-9a-f digits)")
        body["payload_hex"] = payload_hex.lower()
    if payload is not None:
        try:
            body["payload"] = json.loads(payload)
        except ValueError as exc:
            raise UsageError(f"--payload is not valid JSON: {exc}") from None
    if confirmed:
        body["Confirmed"] = "1"
    if flush:
        body["FlushDownlinkQueue"] = "1"
    if validity_time is not None:
        # "ISO 8601 timestamp or Duration in seconds" (Downlink_Message/README.md): seconds go as a number.
        body["ValidityTime"] = int(validity_time) if validity_time.isdigit() else validity_time
    if fcntdn is not None:
        body["FCntDn"] = fcntdn
    if afcntdn is not None:
        body["AFCntDn"] = afcntdn
    if correlation_id is not None:
        if not CORRELATION.fullmatch(correlation_id):
            raise UsageError(f"--correlation-id '{correlation_id}' is not 1 to 16 hex digits (64 bits)")
        body["CorrelationID"] = correlation_id  # sent back as given in the Sent report
    if as_id is not None:
        body["AS_ID"] = as_id
    if as_key is not None:
        body["AS_KEY"] = as_key
    return body


@downlink_app.command("send")
def send(
    url: Annotated[
        str | None,
        typer.Argument(help="The downlinkUrl from an uplink (or use --connection).", show_default=False),
    ] = None,
    connection: Annotated[
        str | None,
        typer.Option("--connection", "-c", help="Connection id: send to this server's downlinkUrl of it."),
    ] = None,
    deveui: Annotated[str, typer.Option("--deveui", help="Device EUI, 16 hex digits.")] = "",
    fport: Annotated[
        int | None,
        typer.Option(
            "--fport",
            min=lorawan.FPORT_MIN,
            max=lorawan.FPORT_MAX,
            help="FPort (default: the connection's downlinkPort).",
        ),
    ] = None,
    payload_hex: Annotated[str | None, typer.Option("--payload-hex", help="Payload as hex.")] = None,
    payload: Annotated[
        str | None, typer.Option("--payload", help="Decoded payload as JSON, for a driver to encode.")
    ] = None,
    confirmed: Annotated[bool, typer.Option("--confirmed", help="Confirmed downlink.")] = False,
    flush: Annotated[
        bool, typer.Option("--flush", help="FlushDownlinkQueue: empty the device's queue first.")
    ] = False,
    validity_time: Annotated[
        str | None,
        typer.Option(
            "--validity-time",
            help="ValidityTime: an ISO 8601 time, or seconds from now (e.g. 3600); not sent after it.",
        ),
    ] = None,
    fcntdn: Annotated[
        int | None, typer.Option("--fcntdn", min=0, help="FCntDn to use (a used one is rejected).")
    ] = None,
    afcntdn: Annotated[
        int | None, typer.Option("--afcntdn", min=0, help="AFCntDn (LoRaWAN 1.1 applicative counter).")
    ] = None,
    correlation_id: Annotated[
        str | None,
        typer.Option(
            "--correlation-id", help="CorrelationID, 1 to 16 hex digits; echoed in the Sent report."
        ),
    ] = None,
    as_id: Annotated[
        str | None, typer.Option("--as-id", help="AS_ID, when the connection requires it.")
    ] = None,
    as_key: Annotated[
        str | None, typer.Option("--as-key", help="AS_KEY, when the connection requires it.")
    ] = None,
) -> None:
    """Queue a downlink: POST {"DevEUI_downlink": {...}} to a connection's downlinkUrl.

    Class A: it goes out with the device's next uplink.

    Examples:
      iotcli downlink send --connection 3f2a9c1e --deveui 0018B20000000B20 --fport 1 --payload-hex 0102
      iotcli downlink send http://127.0.0.1:8100/iot-flow/downlinkMessages/3f2a9c1e --deveui 0018B20000000B20 --payload '{"led":"on"}'
    """
    if (url is None) == (connection is None):
        raise UsageError("give the downlinkUrl or --connection ID (one of them)")
    if not deveui:
        raise UsageError("--deveui is required")
    if url is not None and not url.startswith(("http://", "https://")):
        raise UsageError(f"'{url}' is not a URL; for a connection id use --connection {url}")
    downlink = build_downlink(
        deveui=deveui,
        fport=fport,
        payload_hex=payload_hex,
        payload=payload,
        confirmed=confirmed,
        flush=flush,
        validity_time=validity_time,
        fcntdn=fcntdn,
        correlation_id=correlation_id,
        as_id=as_id,
        as_key=as_key,
        afcntdn=afcntdn,
    )
    state = get_state()
    api = state.client()
    target = url if url is not None else api.downlink_url(str(connection))
    answer = api.send_downlink(target, downlink)
    state.out.success(
        f"downlink {answer.get('id', '')} {answer.get('status', 'accepted')} for {downlink['DevEUI']}: "
        "it goes out with the device's next uplink"
    )
    state.out.data(answer)


@downlink_app.command("list")
def list_(
    deveui: Annotated[str | None, typer.Option("--deveui", help="Only this device.")] = None,
    status: Annotated[
        DownlinkStatus | None, typer.Option("--status", help="Only downlinks in this state.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=10_000, help="At most this many.")] = 100,
) -> None:
    """List the emulator's downlinks and their status (queued, sent, rejected, expired).

    Example:  iotcli downlink list --deveui 0018B20000000B20 --status queued
    """
    state = get_state()
    dev = normalize_deveui(deveui) if deveui is not None else None
    rows = state.client().list_lorawan_downlinks(dev, status=status.value if status else None, limit=limit)
    state.out.data(rows, columns=COLUMNS, empty="no downlinks yet: iotcli downlink send --connection ID ...")
