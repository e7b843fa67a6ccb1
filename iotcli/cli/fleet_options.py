"""The options of ``fleet run``, declared once (``iotcli.cli.fleet.run`` takes them; its --devices-file
is ``iotcli.cli.fleet.FileOpt``); their checks are in ``iotcli.cli.fleet_run``.
"""

from enum import StrEnum
from typing import Annotated

import typer


class Kind(StrEnum):
    http = "http"
    lorawan = "lorawan"


#: Locust's master port.
MASTER_PORT = 5557
RUN_PANEL = "Distributed (Locust master/workers)"
TO_PANEL = "LoRaWAN straight to an application server (--to)"

KindOpt = Annotated[
    Kind | None,
    typer.Option(
        "--kind",
        help="http: each device POSTs to its callback URL; lorawan: uplinks through the emulator"
        " (or with --to straight to an application server) [http; with --to: lorawan].",
        show_default=False,
    ),
]
UsersOpt = Annotated[
    int | None, typer.Option("--users", help="Simulated devices [all in the devices file; lorawan: 10].")
]
IntervalOpt = Annotated[
    str, typer.Option("--interval", help="Time between two uplinks of one device (500ms, 60s, 2m).")
]
JitterOpt = Annotated[str, typer.Option("--jitter", help="Each wait varies by up to this much (20% or 0.2).")]
DurationOpt = Annotated[str | None, typer.Option("--duration", help="Stop after this long (30s, 5m).")]
UplinksOpt = Annotated[int | None, typer.Option("--uplinks", help="Stop after this many uplinks in all.")]
RampUpOpt = Annotated[
    str, typer.Option("--ramp-up", help="Start the devices over this long (0: all at once).")
]
PayloadOpt = Annotated[
    str | None,
    typer.Option(
        "--payload",
        help="Body template ({{device}}, {{counter}}, {{walk:temperature:18:25}}, {{i}}, {{fcnt}}, {{now}}).",
    ),
]
FportOpt = Annotated[int, typer.Option("--fport", help="lorawan: the FPort of each uplink.")]
ToOpt = Annotated[
    str | None,
    typer.Option(
        "--to",
        help="Send the LoRaWAN uplinks to this application server URL in the IoT Flow format.",
        rich_help_panel=TO_PANEL,
    ),
]
ConnectionOpt = Annotated[
    str | None,
    typer.Option(
        "--connection",
        help="With --to: the downlinkUrl is this emulator connection's [the one whose destinationURL is --to].",
        rich_help_panel=TO_PANEL,
    ),
]
DownlinkUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--downlink-url",
        help="With --to: the downlinkUrl to put in each uplink.",
        rich_help_panel=TO_PANEL,
    ),
]
NoDownlinkUrlOpt = Annotated[
    bool,
    typer.Option("--no-downlink-url", help="With --to: no downlinkUrl.", rich_help_panel=TO_PANEL),
]
HeaderOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--header",
        "-H",
        help="With --to: a header NAME:VALUE for the application server (repeatable).",
        rich_help_panel=TO_PANEL,
    ),
]
MasterOpt = Annotated[
    bool,
    typer.Option(
        "--master",
        help="Be Locust's master: wait for workers, split the fleet across them.",
        rich_help_panel=RUN_PANEL,
    ),
]
ExpectWorkersOpt = Annotated[
    int,
    typer.Option(
        "--expect-workers",
        help="--master: start when this many workers are connected.",
        rich_help_panel=RUN_PANEL,
    ),
]
WaitWorkersOpt = Annotated[
    str,
    typer.Option(
        "--wait-workers",
        help="--master: give up when they are not all there after this long.",
        rich_help_panel=RUN_PANEL,
    ),
]
MasterBindHostOpt = Annotated[
    str,
    typer.Option(
        "--master-bind-host",
        help="--master: the interface to listen on (* = all).",
        rich_help_panel=RUN_PANEL,
    ),
]
WorkerOpt = Annotated[
    bool,
    typer.Option(
        "--worker",
        help="Be a Locust worker of the master at --master-host (it sends the fleet).",
        rich_help_panel=RUN_PANEL,
    ),
]
MasterHostOpt = Annotated[
    str,
    typer.Option("--master-host", help="--worker: the master's host.", rich_help_panel=RUN_PANEL),
]
MasterPortOpt = Annotated[
    int,
    typer.Option(
        "--master-port",
        help="The master's port (--master listens there, --worker connects).",
        rich_help_panel=RUN_PANEL,
    ),
]
ConnectTimeoutOpt = Annotated[
    str,
    typer.Option(
        "--connect-timeout",
        help="--worker: give up when no master answers within this long.",
        rich_help_panel=RUN_PANEL,
    ),
]
CsvOutOpt = Annotated[
    bool, typer.Option("--csv", help="Print the summary as CSV (a header line and one line).")
]
LiveOpt = Annotated[bool, typer.Option("--live/--no-live", help="A live table on a terminal while it runs.")]
