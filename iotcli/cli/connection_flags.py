"""The flags of ``connection create`` and ``update``, declared once: each maps one to one onto a
field of the HTTP connector's configuration (CONTRACT section 3); ``ConnectionFlags.apply`` sets
them on a connection body. The CLI checks what is obviously wrong (a URL that is not one, a tiak that
is not 32 hex digits, a header without ``=``); the server validates the rest.
"""

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ClassVar
from urllib.parse import unquote, urlsplit

import typer

from iotcli.cli.state import get_state
from iotcli.errors import UsageError
from iotcli.models import lorawan

HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")


class Strategy(StrEnum):
    CALM = "CALM"
    NORMAL = "NORMAL"
    AGGRESSIVE = "AGGRESSIVE"


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
        min=lorawan.FPORT_MIN,
        max=lorawan.FPORT_MAX,
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
    """The configuration flags of ``connection create`` and ``update``, declared once (``bundles.takes``);
    None means 'not given'. ``--remove-header`` and ``--no-proxy`` are update's only."""

    destination: DestinationOpt = None
    header: HeaderOpt = None
    remove_header: Annotated[
        list[str] | None,
        typer.Option("--remove-header", help="Remove this header (repeatable).", rich_help_panel=CONFIG),
    ] = None
    strict: StrictOpt = None
    proxy: ProxyOpt = None
    no_proxy: Annotated[
        bool, typer.Option("--no-proxy", help="Remove the proxy.", rich_help_panel=CONFIG)
    ] = False
    lrc_compliance: LrcOpt = None
    tiak: TiakOpt = None
    downlink_as_id: AsIdOpt = None
    downlink_as_key: AsKeyOpt = None
    description: DescriptionOpt = None
    send_metadata: MetadataOpt = None
    send_raw_decoded: RawDecodedOpt = None
    uplink_time_validity: ValidityOpt = None
    downlink: DownlinkOpt = None
    downlink_port: PortOpt = None
    reconnect_strategy: StrategyOpt = None
    active: ActiveOpt = None
    file: FileOpt = None

    #: The fields only ``connection update`` takes.
    UPDATE_ONLY: ClassVar[tuple[str, ...]] = ("remove_header", "no_proxy")

    def apply(self, connection: dict[str, Any], name: str | None = None) -> dict[str, Any]:
        """Set ``name`` and the given flags on a connection body (in place) and return it."""
        config: dict[str, Any] = connection.setdefault("configuration", {})
        if not isinstance(config, dict):
            raise UsageError("'configuration' must be an object")
        if name is not None:
            connection["name"] = name
        if self.active is not None:
            connection["active"] = self.active
        if self.destination is not None:
            config["destinationURL"] = check_url(self.destination, "--destination")
        if self.header or self.remove_header:
            headers = config.get("headers") or {}
            if not isinstance(headers, dict):
                raise UsageError("configuration 'headers' must be an object of strings")
            headers = dict(headers)
            for gone in self.remove_header or []:
                if gone not in headers:
                    raise UsageError(f"--remove-header '{gone}': the connection has no such header")
                del headers[gone]
            headers.update(parse_header(item) for item in self.header or [])
            config["headers"] = headers
        if self.no_proxy:
            config.pop("proxy", None)
        if self.proxy is not None:
            config["proxy"] = parse_proxy(self.proxy)
        if self.tiak is not None:
            if not HEX32.fullmatch(self.tiak):
                raise UsageError(f"--tiak must be 32 hex digits (got {len(self.tiak)} characters)")
            config["tiak"] = self.tiak.lower()
        simple: dict[str, Any] = {
            "strictMode": self.strict,
            "lrcCompliance": self.lrc_compliance,
            "downlinkAsId": self.downlink_as_id,
            "downlinkAsKey": self.downlink_as_key,
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
    if not HEADER_NAME.fullmatch(name):
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
