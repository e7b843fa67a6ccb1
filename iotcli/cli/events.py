"""``iotcli events [--follow]``: the emulator's event journal, listed or streamed live."""

from contextlib import closing
from typing import Annotated, Any

import typer

from iotcli.cli.deliveries import format_ms
from iotcli.cli.output import format_value
from iotcli.cli.state import get_state
from iotcli.errors import UsageError

COLUMNS = [("id", "ID"), ("time", "TIME"), ("kind", "KIND"), ("details", "DETAILS")]


def register(app: typer.Typer) -> None:
    app.command("events")(events)


def details(event: dict[str, Any]) -> str:
    """The event's own fields as ``key=value`` pairs."""
    return " ".join(
        f"{key}={format_value(value)}" for key, value in event.items() if key not in {"id", "ts", "kind"}
    )


def event_line(event: dict[str, Any]) -> str:
    return f"{format_ms(event.get('ts'))}  #{event.get('id')}  {event.get('kind')}  {details(event)}".rstrip()


def events(
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Stream events live until Ctrl-C (or --count).")
    ] = False,
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind", "-k", help="Only this kind or kind prefix (connection, uplink.received, ...)."
        ),
    ] = None,
    after: Annotated[
        int | None,
        typer.Option(
            "--after", min=0, help="Only events with a larger id (with --follow: replay them first)."
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=10_000, help="Without --follow: the last N events.")
    ] = 100,
    count: Annotated[
        int | None, typer.Option("--count", min=1, help="With --follow: stop after N events.")
    ] = None,
) -> None:
    """Show the emulator's event journal: ingress, connection and device state changes, rejected requests.

    With --follow the events stream live (Server-Sent Events) until Ctrl-C; with --json each
    event is one JSON object per line. --count N stops after N events, for scripts.

    Examples:
      iotcli events --kind connection
      iotcli events --follow --json | jq .kind
      iotcli events --follow --after 0 --count 5
    """
    state = get_state()
    api = state.client()
    if not follow:
        if count is not None:
            raise UsageError("--count goes with --follow; without it use --limit")
        found = api.list_events(kind=kind, after=after, limit=limit)
        if state.out.json_mode:
            state.out.data(found)
        else:
            rows = [{**e, "time": format_ms(e.get("ts")), "details": details(e)} for e in found]
            state.out.data(
                rows, columns=COLUMNS, empty="no events yet (iotcli events --follow waits for them)"
            )
        return
    state.out.info(f"following events of {state.server} (Ctrl-C to stop)")
    seen = 0
    with closing(api.follow_events(kind=kind, after=after)) as stream:
        for event in stream:
            state.out.stream_line(event if state.out.json_mode else event_line(event))
            seen += 1
            if count is not None and seen >= count:
                break
