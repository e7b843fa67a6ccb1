"""``iotcli deliveries list|show|replay``: the emulator's delivery journal (every forward and call)."""

import json
from enum import StrEnum
from typing import Annotated, Any

import typer

from iotcli.cli.output import Output, ms_to_iso
from iotcli.cli.state import get_state

#: Characters of a request or answer body shown per attempt (all of it with -v).
BODY_PREVIEW = 400

COLUMNS = [
    ("id", "ID"),
    ("kind", "KIND"),
    ("status", "STATUS"),
    ("target", "TARGET"),
    ("attempts", "ATTEMPTS"),
    ("created_at", "CREATED"),
    ("reason", "REASON"),
]

deliveries_app = typer.Typer(
    help="The emulator's delivery journal: every uplink forward and endpoint call, with each attempt.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(deliveries_app, name="deliveries")


class Status(StrEnum):
    pending = "pending"
    delivered = "delivered"
    dropped = "dropped"
    failed = "failed"
    expired = "expired"


def format_ms(ms: Any) -> str:
    """Epoch milliseconds (emulator clock) -> ``2026-01-31T12:00:00.123Z``."""
    if ms is None:
        return "-"
    return ms_to_iso(ms) or str(ms)


def _row(delivery: dict[str, Any]) -> dict[str, Any]:
    target = delivery.get("connection") or delivery.get("device") or "-"
    if delivery.get("connection") and delivery.get("device"):
        target = f"{delivery['connection']} / {delivery['device']}"
    elif delivery.get("endpoint"):
        target = f"{delivery.get('device') or '-'} -> {delivery['endpoint']}"
    return {**delivery, "target": target, "created_at": format_ms(delivery.get("created"))}


@deliveries_app.command("list")
def list_(
    status: Annotated[Status | None, typer.Option("--status", help="Only deliveries in this state.")] = None,
    connection: Annotated[str | None, typer.Option("--connection", help="Only this connection's.")] = None,
    device: Annotated[str | None, typer.Option("--device", help="Only this device's (id or DevEUI).")] = None,
    kind: Annotated[
        str | None, typer.Option("--kind", help="Only this kind: uplink, downlink_event, endpoint.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=10_000, help="At most this many.")] = 50,
) -> None:
    """List deliveries, newest first.

    Example:  iotcli deliveries list --status failed --connection 3f2a9c1e
    """
    state = get_state()
    rows = state.client().list_deliveries(
        status=status.value if status else None, connection=connection, device=device, kind=kind, limit=limit
    )
    state.out.data(
        rows if state.out.json_mode else [_row(r) for r in rows],
        columns=COLUMNS,
        empty="no deliveries yet: they appear when a connection forwards an uplink or a device calls an endpoint",
    )


@deliveries_app.command("show")
def show(delivery_id: Annotated[str, typer.Argument(metavar="ID", help="Delivery id.")]) -> None:
    """Show a delivery and each attempt: URL and headers sent, answer status and body, latency, error.

    Request and answer bodies are cut at 400 characters; -v shows them whole, --json gives the raw record.

    Example:  iotcli deliveries show 42
    """
    state = get_state()
    delivery = state.client().get_delivery(delivery_id)
    if state.out.json_mode:
        state.out.data(delivery)
        return
    render_delivery(state.out, delivery)


def render_delivery(out: Output, d: dict[str, Any]) -> None:
    """The journal record as people read it: a summary, then one block per attempt."""
    out.text(f"delivery {d.get('id')}  {d.get('kind')}  {str(d.get('status', '')).upper()}")
    for key in ("connection", "device", "endpoint"):
        if d.get(key):
            out.text(f"  {key + ':':<13}{d[key]}")
    out.text(f"  {'created:':<13}{format_ms(d.get('created'))}")
    out.text(f"  {'updated:':<13}{format_ms(d.get('updated'))}")
    if d.get("next_attempt") is not None:
        out.text(f"  {'next try:':<13}{format_ms(d.get('next_attempt'))}")
    if d.get("reason"):
        out.text(f"  {'reason:':<13}{d['reason']}")
    attempts = d.get("attempt_log") or []
    out.text(f"  {'attempts:':<13}{d.get('attempts', len(attempts))}")
    full = out.verbose > 0
    for attempt in attempts:
        out.text("")
        latency = attempt.get("latency_ms")
        took = f" in {latency:.1f} ms" if isinstance(latency, int | float) else ""
        answer = attempt.get("status")
        result = f"-> {answer}" if answer is not None else "-> no answer"
        out.text(f"attempt {attempt.get('n')}  {format_ms(attempt.get('ts'))}  {result}{took}")
        out.text(f"  > {attempt.get('method', 'POST')} {attempt.get('url')}")
        for name, value in (attempt.get("headers") or {}).items():
            out.text(f"  > {name}: {value}")
        if attempt.get("body"):
            out.text(f"  > {_body(attempt['body'], full)}")
        if answer is not None:
            out.text(f"  < {answer}")
            if attempt.get("response_body"):
                out.text(f"  < {_body(attempt['response_body'], full)}")
        if attempt.get("error"):
            out.text(f"  error: {attempt['error']}")
    if not attempts:
        out.text("  (no attempt yet)")


def _body(text: str, full: bool) -> str:
    try:
        text = json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))
    except ValueError:
        text = text.replace("\n", "\\n")
    if full or len(text) <= BODY_PREVIEW:
        return text
    return text[:BODY_PREVIEW] + f"... ({len(text) - BODY_PREVIEW} more characters, -v shows all)"


@deliveries_app.command("replay")
def replay(delivery_id: Annotated[str, typer.Argument(metavar="ID", help="Delivery id.")]) -> None:
    """Send a failed, dropped or expired delivery again (it becomes pending).

    Example:  iotcli deliveries replay 42
    """
    state = get_state()
    answer = state.client().replay_delivery(delivery_id)
    state.out.success(
        f"delivery {delivery_id} queued again; follow it with `iotcli deliveries show {delivery_id}`"
    )
    state.out.data(answer)
