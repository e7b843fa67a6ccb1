"""send-uplink's options, declared once: the ``SendOptions`` dataclass is the command's parameters
(``iotcli.cli.bundles.takes``) and what ``send_plan.build_plan`` and ``send.run_send`` read."""

from dataclasses import dataclass
from typing import Annotated

import typer

HELP_PANEL_TARGET = "Target"
HELP_PANEL_BODY = "Body"
HELP_PANEL_LOAD = "Repeat"
HELP_PANEL_OUT = "Output"


@dataclass(repr=False, eq=False)  # made once per run; nothing compares or prints it
class SendOptions:
    """send-uplink's options, declared once: the command's parameters (``bundles.takes``) and what
    ``build_plan`` and ``run_send`` read."""

    items: Annotated[
        list[str] | None,
        typer.Argument(
            help="HTTPie-style items: name=text, name:=json, a[b]=x, Header:value, param==value; '-' reads the body from stdin.",
            show_default=False,
        ),
    ] = None
    device: Annotated[
        str | None,
        typer.Option(
            "--device",
            "-d",
            help="HTTP device id: POST to its callback URL.",
            rich_help_panel=HELP_PANEL_TARGET,
        ),
    ] = None
    url: Annotated[str | None, typer.Option("--url", help="Any URL.", rich_help_panel=HELP_PANEL_TARGET)] = (
        None
    )
    deveui: Annotated[
        str | None,
        typer.Option(
            "--deveui", help="LoRaWAN uplink from this DevEUI (16 hex).", rich_help_panel=HELP_PANEL_TARGET
        ),
    ] = None
    fport: Annotated[
        int, typer.Option("--fport", help="LoRaWAN FPort (1..224).", rich_help_panel=HELP_PANEL_TARGET)
    ] = 1
    payload_hex: Annotated[
        str | None,
        typer.Option(
            "--payload-hex", help="LoRaWAN frame payload in hex.", rich_help_panel=HELP_PANEL_TARGET
        ),
    ] = None
    payload: Annotated[
        str | None,
        typer.Option(
            "--payload",
            help="Decoded payload (JSON) of the LoRaWAN uplink.",
            rich_help_panel=HELP_PANEL_TARGET,
        ),
    ] = None
    connection: Annotated[
        list[str] | None,
        typer.Option(
            "--connection",
            "-c",
            help="Connection id: forward only through it (repeatable); with --to, the downlinkUrl's connection.",
            rich_help_panel=HELP_PANEL_TARGET,
        ),
    ] = None
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Send the LoRaWAN uplink straight to this application server, in the IoT Flow format.",
            rich_help_panel=HELP_PANEL_TARGET,
        ),
    ] = None
    downlink_url: Annotated[
        str | None,
        typer.Option(
            "--downlink-url",
            help="With --to: the downlinkUrl to put in the uplink.",
            rich_help_panel=HELP_PANEL_TARGET,
        ),
    ] = None
    no_downlink_url: Annotated[
        bool,
        typer.Option(
            "--no-downlink-url",
            help="With --to: no downlinkUrl (do not ask the emulator).",
            rich_help_panel=HELP_PANEL_TARGET,
        ),
    ] = False
    fcnt: Annotated[
        int,
        typer.Option(
            "--fcnt", help="With --to: FCntUp of the first uplink.", min=0, rich_help_panel=HELP_PANEL_TARGET
        ),
    ] = 0
    data: Annotated[
        str | None, typer.Option("--data", help="Body as JSON text.", rich_help_panel=HELP_PANEL_BODY)
    ] = None
    file: Annotated[
        str | None,
        typer.Option(
            "--file",
            "-f",
            help="Body from a file ('-' = stdin), sent as is.",
            rich_help_panel=HELP_PANEL_BODY,
        ),
    ] = None
    header: Annotated[
        list[str] | None,
        typer.Option(
            "--header", "-H", help="Extra header 'Name: value' (repeatable).", rich_help_panel=HELP_PANEL_BODY
        ),
    ] = None
    method: Annotated[
        str, typer.Option("--method", "-X", help="HTTP method.", rich_help_panel=HELP_PANEL_BODY)
    ] = "POST"
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help="Bearer token [default: the profile's].",
            show_default=False,
            rich_help_panel=HELP_PANEL_BODY,
        ),
    ] = None
    repeat: Annotated[
        int, typer.Option("--repeat", "-n", help="Send N uplinks.", min=1, rich_help_panel=HELP_PANEL_LOAD)
    ] = 1
    rate: Annotated[
        float | None,
        typer.Option(
            "--rate", help="At most R uplinks per second.", min=0.001, rich_help_panel=HELP_PANEL_LOAD
        ),
    ] = None
    interval: Annotated[
        float | None,
        typer.Option(
            "--interval",
            help="Seconds between uplinks (= --rate 1/S).",
            min=0.0,
            rich_help_panel=HELP_PANEL_LOAD,
        ),
    ] = None
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            help="Uplinks in flight at once.",
            min=1,
            max=512,
            rich_help_panel=HELP_PANEL_LOAD,
        ),
    ] = 1
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            help="Seconds to wait for each answer [default: profile timeout, 10].",
            min=0.001,
            rich_help_panel=HELP_PANEL_LOAD,
        ),
    ] = None
    print_as: Annotated[
        str | None,
        typer.Option(
            "--print",
            help="Print the equivalent command instead of sending: curl, httpie or python.",
            rich_help_panel=HELP_PANEL_OUT,
        ),
    ] = None
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the request (token masked) without sending.",
            rich_help_panel=HELP_PANEL_OUT,
        ),
    ] = False
    json_out: Annotated[
        bool,
        typer.Option("--json", help="A machine-readable record on stdout.", rich_help_panel=HELP_PANEL_OUT),
    ] = False
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose",
            "-v",
            count=True,
            help="Show request and answer headers (token masked).",
            rich_help_panel=HELP_PANEL_OUT,
        ),
    ] = 0
