"""``iotcli wait sink|deliveries|bucket|device|downlink|event``: block until something has happened.

Each subcommand builds one condition of ``iotcli.waiting`` and waits for it: exit 0 once it holds,
exit 7 (with what was last seen) when ``--timeout`` passes first.
"""

from typing import Annotated

import typer

from iotcli.cli.state import get_state
from iotcli.errors import UsageError
from iotcli.waiting import (
    EMULATOR,
    WALL,
    BucketRecords,
    Condition,
    Deliveries,
    DeviceConnection,
    Downlinks,
    EventSeen,
    SinkRequests,
    wait_for,
)

wait_app = typer.Typer(
    help="Wait until something has happened (exit 0), or exit 7 after --timeout with what was last seen.",
    no_args_is_help=True,
)

TimeoutOpt = Annotated[
    str, typer.Option("--timeout", "-t", help="Give up after this long: 30, 30s, 2m (see --clock).")
]
ClockOpt = Annotated[
    str,
    typer.Option(
        "--clock", help="Measure --timeout in 'wall' time or 'emulator' time (scaled, advanced by the clock)."
    ),
]
CountOpt = Annotated[int, typer.Option("--count", "-n", min=1, help="How many.")]


def register(app: typer.Typer) -> None:
    app.add_typer(wait_app, name="wait")


def parse_timeout(text: str) -> float:
    from iotcli.sinkspec import ScriptError, parse_seconds

    try:
        return parse_seconds(text, "--timeout")
    except ScriptError as exc:
        raise UsageError(str(exc)) from None


def run(condition: Condition, timeout: str, clock: str) -> None:
    if clock not in (WALL, EMULATOR):
        raise UsageError(f"--clock '{clock}' must be '{WALL}' or '{EMULATOR}'")
    state = get_state()
    seconds = parse_timeout(timeout)
    seen = wait_for(state.client(), condition, timeout=seconds, clock=clock)
    state.out.success(f"waited for {condition.describe()}: {seen.seen}")
    if state.out.json_mode:
        state.out.json({"data": {"condition": condition.describe(), "seen": seen.seen, "details": seen.data}})


@wait_app.command("sink")
def sink(
    name: Annotated[str, typer.Argument(help="Sink name.")],
    count: CountOpt = 1,
    header: Annotated[
        str | None, typer.Option("--header", help="Only requests with this header (NAME or NAME=VALUE).")
    ] = None,
    field: Annotated[
        str | None,
        typer.Option(
            "--field", help="Only requests whose JSON body has PATH=VALUE (e.g. DevEUI_uplink.FPort=2)."
        ),
    ] = None,
    timeout: TimeoutOpt = "30s",
    clock: ClockOpt = WALL,
) -> None:
    """Wait until a sink received N requests (optionally matching a header or a JSON field).

    Examples:
      iotcli wait sink app --count 3 --timeout 10s
      iotcli wait sink app --header X-Thing=0018B20000000B20
      iotcli wait sink app --field DevEUI_uplink.FPort=1
    """
    parsed_header: tuple[str, str | None] | None = None
    if header is not None:
        key, sep, value = header.partition("=")
        if not key.strip():
            raise UsageError(f"--header '{header}' is not NAME or NAME=VALUE")
        parsed_header = (key.strip(), value if sep else None)
    parsed_field: tuple[str, str] | None = None
    if field is not None:
        path, sep, value = field.partition("=")
        if not sep or not path.strip():
            raise UsageError(f"--field '{field}' is not PATH=VALUE (example: DevEUI_uplink.FPort=1)")
        parsed_field = (path.strip(), value)
    run(SinkRequests(name, count, parsed_header, parsed_field), timeout, clock)


@wait_app.command("deliveries")
def deliveries(
    status: Annotated[
        str, typer.Option("--status", "-s", help="pending, delivered, dropped, failed or expired.")
    ],
    count: CountOpt = 1,
    connection: Annotated[str | None, typer.Option("--connection", help="Only this connection's.")] = None,
    device: Annotated[str | None, typer.Option("--device", help="Only this device's.")] = None,
    timeout: TimeoutOpt = "30s",
    clock: ClockOpt = WALL,
) -> None:
    """Wait until N deliveries (forwards, endpoint calls) reached a status.

    Example:  iotcli wait deliveries --status failed --count 1 --timeout 10m --clock emulator
    """
    if status not in {"pending", "delivered", "dropped", "failed", "expired"}:
        raise UsageError(f"--status '{status}' must be pending, delivered, dropped, failed or expired")
    run(Deliveries(status, count, connection=connection, device=device), timeout, clock)


@wait_app.command("bucket")
def bucket(
    name: Annotated[str, typer.Argument(help="Bucket id.")],
    count: CountOpt = 1,
    timeout: TimeoutOpt = "30s",
    clock: ClockOpt = WALL,
) -> None:
    """Wait until a bucket holds N records.

    Example:  iotcli wait bucket readings --count 20
    """
    run(BucketRecords(name, count), timeout, clock)


@wait_app.command("device")
def device(
    name: Annotated[str, typer.Argument(help="Device id.")],
    connected: Annotated[bool, typer.Option("--connected", help="Wait until it is connected.")] = False,
    disconnected: Annotated[
        bool, typer.Option("--disconnected", help="Wait until it is disconnected.")
    ] = False,
    timeout: TimeoutOpt = "30s",
    clock: ClockOpt = WALL,
) -> None:
    """Wait until a device is connected (or disconnected, e.g. after its timeout).

    Example:  iotcli wait device sensor-1 --disconnected --timeout 11m --clock emulator
    """
    if connected == disconnected:
        raise UsageError("give one of --connected or --disconnected")
    run(DeviceConnection(name, connected), timeout, clock)


@wait_app.command("downlink")
def downlink(
    status: Annotated[str, typer.Option("--status", "-s", help="queued, sent, rejected or expired.")],
    count: CountOpt = 1,
    deveui: Annotated[str | None, typer.Option("--deveui", help="Only this device's downlinks.")] = None,
    timeout: TimeoutOpt = "30s",
    clock: ClockOpt = WALL,
) -> None:
    """Wait until N LoRaWAN downlinks reached a status.

    Example:  iotcli wait downlink --status sent --deveui 0018B20000000B20
    """
    if status not in {"queued", "sent", "rejected", "expired"}:
        raise UsageError(f"--status '{status}' must be queued, sent, rejected or expired")
    run(Downlinks(status, count, deveui), timeout, clock)


@wait_app.command("event")
def event(
    kind: Annotated[str, typer.Argument(help="Event kind or kind prefix (device.connected, delivery, ...).")],
    count: CountOpt = 1,
    after: Annotated[int | None, typer.Option("--after", min=0, help="Only events with a larger id.")] = None,
    timeout: TimeoutOpt = "30s",
    clock: ClockOpt = WALL,
) -> None:
    """Wait until N events of a kind are in the journal (any time, or after an event id).

    Example:  iotcli wait event delivery.failed --timeout 1m
    """
    run(EventSeen(kind, count, after), timeout, clock)
