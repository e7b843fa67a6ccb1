"""``iotcli connection create|list|show|update|delete``: IoT Flow-style HTTP connections.

A connection forwards every LoRaWAN uplink to its ``destinationURL``. The flags (declared once, in
``iotcli.cli.connection_flags``) map one to one onto the HTTP connector's configuration (CONTRACT
section 3); ``--file`` takes the same configuration as JSON or TOML, and flags override it.
"""

import json
import sys
import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer

from iotcli.cli.bundles import takes
from iotcli.cli.connection_flags import ConnectionFlags, resolve_destination
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

connection_app = typer.Typer(
    help="HTTP connections (IoT Flow style): forward LoRaWAN uplinks to your application's URL.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(connection_app, name="connection")


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
@takes(skip=ConnectionFlags.UPDATE_ONLY, flags=ConnectionFlags)
def create(
    name: Annotated[
        str | None, typer.Argument(metavar="NAME", help="Name of the connection (or 'name' in --file).")
    ] = None,
    flags: ConnectionFlags = ConnectionFlags(),  # noqa: B008 - expanded into the flags by @takes
) -> None:
    """Create an HTTP connection: every LoRaWAN uplink is POSTed to --destination.

    Example:  iotcli connection create my-app --destination http://127.0.0.1:9000/uplinks --header 'X-Thing={DevEUI}' --strict
    """
    state = get_state()
    body: dict[str, Any] = read_file(flags.file) if flags.file is not None else {}
    body = {k: v for k, v in body.items() if k not in READ_ONLY}
    body.setdefault("connectorId", CONNECTOR_ID)
    flags.destination = resolve_destination(flags.destination)
    flags.apply(body, name=name)
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
@takes(flags=ConnectionFlags)
def update(
    connection_id: Annotated[str, typer.Argument(metavar="ID", help="Connection id.")],
    name: Annotated[str | None, typer.Option("--name", help="New name.")] = None,
    flags: ConnectionFlags = ConnectionFlags(),  # noqa: B008 - expanded into the flags by @takes
) -> None:
    """Change a connection: read it, apply the given flags, PUT the whole connection back.

    Fields not named keep their value; masked secrets ("*****") are kept by the server.
    --file values replace the current ones key by key, then flags apply.

    Example:  iotcli connection update 3f2a9c1e --no-strict --header 'X-Site=BuildingA' --inactive
    """
    if flags.proxy is not None and flags.no_proxy:
        raise UsageError("--proxy and --no-proxy contradict each other")
    state = get_state()
    api = state.client()
    current = api.get_connection(connection_id)
    body: dict[str, Any] = {k: v for k, v in current.items() if k not in READ_ONLY}
    body["configuration"] = dict(current.get("configuration") or {})
    if flags.file is not None:
        overlay = read_file(flags.file)
        overlay_config = overlay.pop("configuration", None) or {}
        if not isinstance(overlay_config, dict):
            raise UsageError("'configuration' in --file must be an object")
        body.update({k: v for k, v in overlay.items() if k not in READ_ONLY})
        body["configuration"].update(overlay_config)
    flags.destination = resolve_destination(flags.destination)
    flags.apply(body, name=name)
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
