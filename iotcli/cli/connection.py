"""``iotcli connection create|list|show|update|delete``: IoT Flow-style HTTP connections.

A connection forwards every LoRaWAN uplink to its ``destinationURL``. Flags map one to one onto the
HTTP connector's configuration (CONTRACT section 3); ``--file`` takes the same configuration as JSON
or TOML, and flags override it. The CLI checks what is obviously wrong (a URL that is not one, a
tiak that is not 32 hex digits, a header without ``=``); the server validates the rest.
"""

import json
import re
import sys
import tomllib
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

import typer

from iotcli.cli.state import get_state
from iotcli.errors import IotcliError, UsageError

CONNECTOR_ID = "actility-http-iot"

COLUMNS = [
    ("id", "ID"),
    ("name", "NAME"),
    ("state", "STATE"),
    ("active", "ACTIVE"),
    ("configuration.destinationURL", "DESTINATION"),
]

#: Connection fields the server sets; never sent back on PUT.
READ_ONLY = {"id", "state", "startupTime", "stateReason", "created", "updated", "downlinkUrl"}

HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")

connection_app = typer.Typer(
    help="HTTP connections (IoT Flow style): forward LoRaWAN uplinks to your application's URL.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(connection_app, name="connection")


class Strategy(StrEnum):
    CALM = "CALM"
    NORMAL = "NORMAL"
    AGGRESSIVE = "AGGRESSIVE"


# -- options shared by create and update ------------------------------------------------------------
CONFIG = "Configuration"
DestinationOpt = Annotated[
    str | None,
    typer.Option(
        "--destination",
        "-d",
        help="destinationURL: where uplinks are POSTed (http:// or https://, or sink:NAME for an emulator sink).",
        rich_help_panel=CONFIG,
    ),
]
HeaderOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--header",
        "-H",
        help="Header K=V sent with every uplink (repeatable). Values may hold patterns: X-Thing={DevEUI}.",
        rich_help_panel=CONFIG,
    ),
]
StrictOpt = Annotated[
    bool | None,
    typer.Option(
        "--strict/--no-strict",
        help="strictMode: resend non-2xx answers 3 times, 2 s apart.",
        rich_help_panel=CONFIG,
    ),
]
ProxyOpt = Annotated[
    str | None,
    typer.Option("--proxy", help="HTTP proxy as http://user:password@host:port.", rich_help_panel=CONFIG),
]
LrcOpt = Annotated[
    bool | None,
    typer.Option(
        "--lrc-compliance/--no-lrc-compliance",
        help="lrcCompliance: add the LRC query and SHA-256 Token (signed with --tiak; without one the server generates it).",
        rich_help_panel=CONFIG,
    ),
]
TiakOpt = Annotated[
    str | None,
    typer.Option("--tiak", help="tiak: the 32-hex-digit key of the LRC Token.", rich_help_panel=CONFIG),
]
AsIdOpt = Annotated[
    str | None,
    typer.Option(
        "--downlink-as-id", help="downlinkAsId: downlinks must carry this AS_ID.", rich_help_panel=CONFIG
    ),
]
AsKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--downlink-as-key", help="downlinkAsKey: downlinks must carry this AS_KEY.", rich_help_panel=CONFIG
    ),
]
DescriptionOpt = Annotated[
    str | None, typer.Option("--description", help="description.", rich_help_panel=CONFIG)
]
MetadataOpt = Annotated[
    bool | None,
    typer.Option(
        "--send-metadata/--no-send-metadata",
        help="sendMetadata: POST the uplink without the DevEUI_uplink wrapper.",
        rich_help_panel=CONFIG,
    ),
]
RawDecodedOpt = Annotated[
    bool | None,
    typer.Option(
        "--send-raw-decoded/--no-send-raw-decoded",
        help="sendRawDecodedFormat: POST only the decoded payload when there is one.",
        rich_help_panel=CONFIG,
    ),
]
ValidityOpt = Annotated[
    str | None,
    typer.Option(
        "--uplink-time-validity",
        help="uplinkTimeValidity: drop waiting uplinks older than this (e.g. 5m).",
        rich_help_panel=CONFIG,
    ),
]
DownlinkOpt = Annotated[
    bool | None,
    typer.Option(
        "--downlink/--no-downlink",
        help="downlinkEnabled: accept downlinks on the downlinkUrl (default: yes).",
        rich_help_panel=CONFIG,
    ),
]
PortOpt = Annotated[
    int | None,
    typer.Option(
        "--downlink-port",
        min=1,
        max=224,
        help="downlinkPort: FPort of downlinks that give none.",
        rich_help_panel=CONFIG,
    ),
]
StrategyOpt = Annotated[
    Strategy | None,
    typer.Option(
        "--reconnect-strategy",
        case_sensitive=False,
        help="reconnectStrategy when the destination is unreachable (default NORMAL).",
        rich_help_panel=CONFIG,
    ),
]
ActiveOpt = Annotated[
    bool | None,
    typer.Option("--active/--inactive", help="active: --inactive stops forwarding (state DEACTIVATED)."),
]
FileOpt = Annotated[
    Path | None,
    typer.Option(
        "--file",
        "-f",
        help="Connection or configuration as JSON or TOML ('-' reads stdin); flags override it.",
        allow_dash=True,
    ),
]


@dataclass
class ConnectionFlags:
    """What the user asked for on the command line; None means 'not given'."""

    name: str | None = None
    destination: str | None = None
    headers: list[str] = field(default_factory=list)
    remove_headers: list[str] = field(default_factory=list)
    strict: bool | None = None
    proxy: str | None = None
    no_proxy: bool = False
    lrc_compliance: bool | None = None
    tiak: str | None = None
    as_id: str | None = None
    as_key: str | None = None
    description: str | None = None
    send_metadata: bool | None = None
    send_raw_decoded: bool | None = None
    uplink_time_validity: str | None = None
    downlink: bool | None = None
    downlink_port: int | None = None
    reconnect_strategy: Strategy | None = None
    active: bool | None = None

    def apply(self, connection: dict[str, Any]) -> dict[str, Any]:
        """Set the given flags on a connection body (in place) and return it."""
        config: dict[str, Any] = connection.setdefault("configuration", {})
        if not isinstance(config, dict):
            raise UsageError("'configuration' must be an object")
        if self.name is not None:
            connection["name"] = self.name
        if self.active is not None:
            connection["active"] = self.active
        if self.destination is not None:
            config["destinationURL"] = check_url(self.destination, "--destination")
        if self.headers or self.remove_headers:
            headers = config.get("headers") or {}
            if not isinstance(headers, dict):
                raise UsageError("configuration 'headers' must be an object of strings")
            headers = dict(headers)
            for name in self.remove_headers:
                if name not in headers:
                    raise UsageError(f"--remove-header '{name}': the connection has no such header")
                del headers[name]
            headers.update(parse_header(item) for item in self.headers)
            config["headers"] = headers
        if self.no_proxy:
            config.pop("proxy", None)
        if self.proxy is not None:
            config["proxy"] = parse_proxy(self.proxy)
        if self.tiak is not None:
            if not HEX32.match(self.tiak):
                raise UsageError(f"--tiak must be 32 hex digits (got {len(self.tiak)} characters)")
            config["tiak"] = self.tiak.lower()
        simple: dict[str, Any] = {
            "strictMode": self.strict,
            "lrcCompliance": self.lrc_compliance,
            "downlinkAsId": self.as_id,
            "downlinkAsKey": self.as_key,
            "description": self.description,
            "sendMetadata": self.send_metadata,
            "sendRawDecodedFormat": self.send_raw_decoded,
            "uplinkTimeValidity": self.uplink_time_validity,
            "downlinkEnabled": self.downlink,
            "downlinkPort": self.downlink_port,
            "reconnectStrategy": self.reconnect_strategy.value if self.reconnect_strategy else None,
        }
        config.update({k: v for k, v in simple.items() if v is not None})
        # lrcCompliance without --tiak: the server generates the key (shown once, in its answer).
        return connection


def resolve_destination(destination: str | None) -> str | None:
    """``sink:NAME`` -> the URL of the emulator's sink NAME (asked of the server); else as given."""
    if destination is None or not destination.startswith("sink:"):
        return destination
    return get_state().client().resolve_sink_url(destination)


def check_url(url: str, flag: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{flag} '{url}' is not an http:// or https:// URL")
    from iotcli.config import server_url_problem

    problem = server_url_problem(url)  # port: empty, not a number, out of range, 0
    if problem:
        raise UsageError(f"{flag} '{url}' {problem}")
    return url


def parse_header(item: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    name = name.strip()
    if not sep:
        raise UsageError(f"--header '{item}' is not K=V (example: --header 'X-Thing={{DevEUI}}')")
    if not HEADER_NAME.match(name):
        raise UsageError(f"--header '{item}': '{name}' is not a valid header name")
    return name, value


def parse_proxy(url: str) -> dict[str, str]:
    """``http://user:pass@host:port`` -> ``{"hostname": "http://host:port", "username", "password"}``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--proxy '{url}' is not a URL like http://user:password@host:port")
    try:
        port = parts.port
    except ValueError:
        raise UsageError(f"--proxy '{url}' has an invalid port") from None
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    proxy = {"hostname": f"{parts.scheme}://{host}" + (f":{port}" if port else "")}
    if parts.username is not None:
        proxy["username"] = unquote(parts.username)
    if parts.password is not None:
        proxy["password"] = unquote(parts.password)
    return proxy


def read_file(path: Path) -> dict[str, Any]:
    """A connection (with ``configuration``) or a bare configuration, as JSON or TOML."""
    name = "stdin" if str(path) == "-" else str(path)
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--file {name}: {exc.strerror or exc}") from None
    data: Any
    if path.suffix.lower() == ".toml":
        data = _toml(text, name)
    else:
        try:
            data = json.loads(text)
        except ValueError as exc:
            if path.suffix.lower() == ".json":
                raise UsageError(f"--file {name} is not valid JSON: {exc}") from None
            data = _toml(text, name, json_error=str(exc))
    if isinstance(data, dict) and set(data) == {"data"} and isinstance(data["data"], dict):
        data = data["data"]  # saved from `iotcli --json connection show ID`
    if not isinstance(data, dict):
        raise UsageError(f"--file {name} must hold an object (a connection or its configuration)")
    if "configuration" in data or "connectorId" in data or "name" in data:
        return data
    return {"configuration": data}


def _toml(text: str, name: str, json_error: str | None = None) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        extra = f" (as JSON: {json_error})" if json_error else ""
        raise UsageError(f"--file {name} is neither valid TOML nor JSON: {exc}{extra}") from None


def human_view(conn: dict[str, Any], downlink_url: str | None = None) -> dict[str, Any]:
    """One flat record for people: the connection's fields, then each configuration field."""
    view = {k: v for k, v in conn.items() if k != "configuration"}
    config = conn.get("configuration") or {}
    if isinstance(config, dict):
        view.update(config)
    if downlink_url and "downlinkUrl" not in view:
        view["downlinkUrl"] = downlink_url
    return view


# -- commands -----------------------------------------------------------------------------------------
@connection_app.command("create")
def create(
    name: Annotated[
        str | None, typer.Argument(metavar="NAME", help="Name of the connection (or 'name' in --file).")
    ] = None,
    destination: DestinationOpt = None,
    header: HeaderOpt = None,
    strict: StrictOpt = None,
    proxy: ProxyOpt = None,
    lrc_compliance: LrcOpt = None,
    tiak: TiakOpt = None,
    downlink_as_id: AsIdOpt = None,
    downlink_as_key: AsKeyOpt = None,
    description: DescriptionOpt = None,
    send_metadata: MetadataOpt = None,
    send_raw_decoded: RawDecodedOpt = None,
    uplink_time_validity: ValidityOpt = None,
    downlink: DownlinkOpt = None,
    downlink_port: PortOpt = None,
    reconnect_strategy: StrategyOpt = None,
    active: ActiveOpt = None,
    file: FileOpt = None,
) -> None:
    """Create an HTTP connection: every LoRaWAN uplink is POSTed to --destination.

    Example:  iotcli connection create my-app --destination http://127.0.0.1:9000/uplinks --header 'X-Thing={DevEUI}' --strict
    """
    state = get_state()
    body: dict[str, Any] = read_file(file) if file is not None else {}
    body = {k: v for k, v in body.items() if k not in READ_ONLY}
    body.setdefault("connectorId", CONNECTOR_ID)
    flags = ConnectionFlags(
        name=name,
        destination=resolve_destination(destination),
        headers=header or [],
        strict=strict,
        proxy=proxy,
        lrc_compliance=lrc_compliance,
        tiak=tiak,
        as_id=downlink_as_id,
        as_key=downlink_as_key,
        description=description,
        send_metadata=send_metadata,
        send_raw_decoded=send_raw_decoded,
        uplink_time_validity=uplink_time_validity,
        downlink=downlink,
        downlink_port=downlink_port,
        reconnect_strategy=reconnect_strategy,
        active=active,
    )
    flags.apply(body)
    if not body.get("name"):
        raise UsageError("give the connection a NAME (or 'name' in --file)")
    if not body["configuration"].get("destinationURL"):
        raise UsageError("--destination URL is required (or 'destinationURL' in --file)")
    api = state.client()
    created, warnings = api.create_connection_with_warnings(body)
    state.out.success(f"connection {created.get('id')} created ({created.get('state', 'unknown state')})")
    _report(state, created, warnings, generated_tiak=lrc_asked(body))
    state.out.data(created if state.out.json_mode else human_view(created, _downlink_url(api, created)))


@connection_app.command("list")
def list_() -> None:
    """List the HTTP connections.

    Example:  iotcli connection list
    """
    state = get_state()
    state.out.data(
        state.client().list_connections(),
        columns=COLUMNS,
        empty="no connections yet: iotcli connection create NAME --destination URL",
    )


@connection_app.command("show")
def show(connection_id: Annotated[str, typer.Argument(metavar="ID", help="Connection id.")]) -> None:
    """Show one connection: state, configuration (secrets masked) and its downlinkUrl.

    Example:  iotcli connection show 3f2a9c1e
    """
    state = get_state()
    api = state.client()
    conn = api.get_connection(connection_id)
    state.out.data(conn if state.out.json_mode else human_view(conn, _downlink_url(api, conn)))


@connection_app.command("update")
def update(
    connection_id: Annotated[str, typer.Argument(metavar="ID", help="Connection id.")],
    name: Annotated[str | None, typer.Option("--name", help="New name.")] = None,
    destination: DestinationOpt = None,
    header: HeaderOpt = None,
    remove_header: Annotated[
        list[str] | None,
        typer.Option("--remove-header", help="Remove this header (repeatable).", rich_help_panel=CONFIG),
    ] = None,
    strict: StrictOpt = None,
    proxy: ProxyOpt = None,
    no_proxy: Annotated[
        bool, typer.Option("--no-proxy", help="Remove the proxy.", rich_help_panel=CONFIG)
    ] = False,
    lrc_compliance: LrcOpt = None,
    tiak: TiakOpt = None,
    downlink_as_id: AsIdOpt = None,
    downlink_as_key: AsKeyOpt = None,
    description: DescriptionOpt = None,
    send_metadata: MetadataOpt = None,
    send_raw_decoded: RawDecodedOpt = None,
    uplink_time_validity: ValidityOpt = None,
    downlink: DownlinkOpt = None,
    downlink_port: PortOpt = None,
    reconnect_strategy: StrategyOpt = None,
    active: ActiveOpt = None,
    file: FileOpt = None,
) -> None:
    """Change a connection: read it, apply the given flags, PUT the whole connection back.

    Fields not named keep their value; masked secrets ("*****") are kept by the server.
    --file values replace the current ones key by key, then flags apply.

    Example:  iotcli connection update 3f2a9c1e --no-strict --header 'X-Site=BuildingA' --inactive
    """
    if proxy is not None and no_proxy:
        raise UsageError("--proxy and --no-proxy contradict each other")
    state = get_state()
    api = state.client()
    current = api.get_connection(connection_id)
    body: dict[str, Any] = {k: v for k, v in current.items() if k not in READ_ONLY}
    body["configuration"] = dict(current.get("configuration") or {})
    if file is not None:
        overlay = read_file(file)
        overlay_config = overlay.pop("configuration", None) or {}
        if not isinstance(overlay_config, dict):
            raise UsageError("'configuration' in --file must be an object")
        body.update({k: v for k, v in overlay.items() if k not in READ_ONLY})
        body["configuration"].update(overlay_config)
    flags = ConnectionFlags(
        name=name,
        destination=resolve_destination(destination),
        headers=header or [],
        remove_headers=remove_header or [],
        strict=strict,
        proxy=proxy,
        no_proxy=no_proxy,
        lrc_compliance=lrc_compliance,
        tiak=tiak,
        as_id=downlink_as_id,
        as_key=downlink_as_key,
        description=description,
        send_metadata=send_metadata,
        send_raw_decoded=send_raw_decoded,
        uplink_time_validity=uplink_time_validity,
        downlink=downlink,
        downlink_port=downlink_port,
        reconnect_strategy=reconnect_strategy,
        active=active,
    )
    flags.apply(body)
    updated, warnings = api.replace_connection_with_warnings(connection_id, body)
    state.out.success(f"connection {connection_id} updated ({updated.get('state', 'unknown state')})")
    _report(state, updated, warnings, generated_tiak=lrc_asked(body))
    state.out.data(updated if state.out.json_mode else human_view(updated, _downlink_url(api, updated)))


@connection_app.command("delete")
def delete(
    connection_id: Annotated[str, typer.Argument(metavar="ID", help="Connection id.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete a connection. Uplinks stop going to it; its queued messages and downlinks are dropped;
    its downlinkUrl answers 404.

    Example:  iotcli connection delete 3f2a9c1e --yes
    """
    from iotcli.cli.prompt import confirm_delete

    state = get_state()
    confirm_delete(
        state.out,
        f"Delete connection '{connection_id}' with its queued messages and downlinks?",
        yes,
        what=f"connection '{connection_id}'",
    )
    state.client().delete_connection(connection_id)
    state.out.success(f"connection {connection_id} deleted")
    if state.out.json_mode:
        state.out.data({"id": connection_id, "deleted": True})


def _downlink_url(api: Any, conn: dict[str, Any]) -> str | None:
    if isinstance(conn.get("downlinkUrl"), str):
        return str(conn["downlinkUrl"])
    cid = conn.get("id")
    if not cid:
        return None
    try:
        return str(api.downlink_url(str(cid)))
    except IotcliError:
        return None  # shown for people only: a server without downlinkUrl fields just lacks the line


def lrc_asked(body: dict[str, Any]) -> bool:
    """lrcCompliance on and no tiak sent: the server generates one."""
    config = body.get("configuration") or {}
    return config.get("lrcCompliance") is True and not config.get("tiak")


def _report(state: Any, conn: dict[str, Any], warnings: list[str], *, generated_tiak: bool) -> None:
    """One stderr line per server warning (keys no document knows, stored as given), and the tiak the
    server generated (its only showing: later reads mask it)."""
    for text in warnings:
        state.out.warn(text)
    tiak = (conn.get("configuration") or {}).get("tiak")
    if generated_tiak and isinstance(tiak, str) and tiak != "*****":
        state.out.warn(
            "lrcCompliance without --tiak: the server generated the tiak shown here (later reads mask it)"
        )
