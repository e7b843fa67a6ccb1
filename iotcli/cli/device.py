"""``iotcli device ...``: HTTP devices; their tokens (``device_token``), callback settings
(``device_callback``) and snippets (``device_snippet``) are subgroups and commands of their own modules.

``device create ID --bucket B --property P --response-property R --with-token`` is the one command
to a working device: bucket (when missing), device, callback settings and a device token, then the
callback URL and a curl command that sends a first reading.
"""

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from iotcli.cli.bundles import takes
from iotcli.cli.device_callback import CallbackFlags, callback_app, merge_callback
from iotcli.cli.device_snippet import snippet
from iotcli.cli.device_token import token_app
from iotcli.cli.resources import DeviceIdArg, check_id, confirm, done, show, show_rows
from iotcli.cli.state import CliState, get_state
from iotcli.errors import ApiError, IotcliError, UsageError

if TYPE_CHECKING:
    from iotcli.client.api import ApiClient

device_app = typer.Typer(
    help="HTTP devices: create one with a callback URL and token, list, update, stats.",
    no_args_is_help=True,
)
device_app.add_typer(token_app, name="token")
device_app.add_typer(callback_app, name="callback")

#: The reading the printed curl command sends.
SAMPLE_PAYLOAD = '{"temperature": 21.5, "humidity": 40}'
DEVICE_TS_KEYS = ("created", "modified", "connection.ts")


def register(app: typer.Typer) -> None:
    app.add_typer(device_app, name="device")


class DeviceType(StrEnum):
    HTTP = "HTTP"
    Virtual = "Virtual"
    Generic = "Generic"
    MQTT = "MQTT"


DeviceArg = DeviceIdArg


def curl_command(url: str, token: str | None, payload: str = SAMPLE_PAYLOAD) -> str:
    """A ready-to-run, shell-quoted curl command that POSTs ``payload`` with the bearer token."""
    from iotcli.models import render  # only device create prints one: not imported at start-up

    headers = [("Authorization", f"Bearer {token or '$DEVICE_TOKEN'}"), ("Content-Type", "application/json")]
    request = render.Prepared("POST", url, headers, payload.encode())
    return render.curl_command(
        request, data_option="-d", one_line=True, expand=() if token else ("authorization",)
    )


def ensure_bucket(api: "ApiClient", bucket: str) -> bool:
    """Create the bucket (source "write") when it does not exist; True when it was created."""
    try:
        api.get_bucket(bucket)
        return False
    except ApiError as exc:
        if exc.status != 404:
            raise
    api.create_bucket(bucket, source="write")
    return True


def require_endpoint(api: "ApiClient", endpoint: str) -> None:
    try:
        api.get_endpoint(endpoint)
    except ApiError as exc:
        if exc.status == 404:
            raise ApiError(
                404,
                f"endpoint '{endpoint}' does not exist",
                hint=f"create it first: iotcli endpoint create {endpoint} --url URL",
            ) from None
        raise


# --- device ---------------------------------------------------------------------------------


@device_app.command("create")
@takes(flags=CallbackFlags)
def create(
    device: DeviceArg,
    name: Annotated[str | None, typer.Option("--name", help="Display name.")] = None,
    description: Annotated[str | None, typer.Option("--description", help="Free text.")] = None,
    type_: Annotated[DeviceType, typer.Option("--type", help="Device type.")] = DeviceType.HTTP,
    flags: CallbackFlags = CallbackFlags(),  # noqa: B008 - expanded into the options by @takes
    with_token: Annotated[
        bool, typer.Option("--with-token", help="Also create a device token and print it (shown only once).")
    ] = False,
    token_name: Annotated[str, typer.Option("--token-name", help="Name of that token.")] = "callback",
    credentials: Annotated[
        str | None,
        typer.Option("--credentials", help="Device secret (6-255 chars), required for Generic/MQTT."),
    ] = None,
) -> None:
    """Create a device; for an HTTP device also its callback settings, and print how to call it.

    Creates the bucket when missing, sets the callback (store in --bucket, call --endpoint, keep the payload in --property, answer with --response-property, --timeout minutes), makes a device token (--with-token), then prints the callback URL, the token and a curl command that sends a reading. If a step fails, what this command created is removed again.

    Example:
      iotcli device create sensor-1 --bucket readings --property last --response-property command --timeout 5 --with-token
    """
    state = get_state()
    check_id(device, "device")
    actions, props = flags.changes()
    bucket, endpoint = flags.bucket, flags.endpoint
    if any(v == "" for v in actions.values()):
        raise UsageError("device create: --bucket, --endpoint and the properties need an id, not ''")
    if type_ is not DeviceType.HTTP and (actions or props):
        raise UsageError(
            f"callback options only apply to HTTP devices, not {type_.value}",
            hint="drop --bucket/--endpoint/--property/--response-property/--timeout or use --type HTTP",
        )
    api = state.client()
    if endpoint:
        require_endpoint(api, endpoint)
    bucket_created = ensure_bucket(api, bucket) if bucket else False
    if bucket_created:
        state.out.info(f"bucket '{bucket}' created (source: write)")
    device_created = False
    try:
        created = api.create_device(
            device, type=type_.value, name=name, description=description, credentials=credentials
        )
        device_created = True
        callback = (
            api.set_callback(device, merge_callback({}, actions, props)) if (actions or props) else None
        )
        token = api.create_device_token(device, token_name) if with_token else None
    except IotcliError:
        rollback(state, api, device if device_created else None, bucket if bucket_created else None)
        raise
    url = api.callback_url(device)
    secret = token.get("token") if isinstance(token, dict) else None
    curl = curl_command(url, secret) if type_ is DeviceType.HTTP else None
    data = {
        "device": created,
        "bucket": {"bucket": bucket, "created": bucket_created} if bucket else None,
        "callback": callback
        if callback
        else (merge_callback({}, actions, props) if actions or props else None),
        "callback_url": url if type_ is DeviceType.HTTP else None,
        "token": token,
        "curl": curl,
    }
    if state.out.json_mode:
        state.out.data(data)
        return
    state.out.success(f"device '{device}' created ({type_.value})")
    lines = {"device": device, "type": type_.value}
    if type_ is DeviceType.HTTP:
        lines["callback_url"] = url
        for key in ("write_bucket", "call_endpoint", "set_property", "send_property"):
            if key in actions:
                lines[key] = actions[key]
        if "timeout" in props:
            lines["timeout"] = f"{props['timeout']} min"
    if token is not None:
        lines["token_id"] = str(token.get("id"))
        lines["token"] = str(secret)
    state.out.data(lines)
    if curl:
        if secret:
            state.out.text("\nThe token is shown only this once. Send a reading:\n")
        else:
            state.out.text(
                f"\nMake a device token with `iotcli device token create {device}`, then send a reading:\n"
            )
        state.out.text(curl)


def rollback(state: CliState, api: "ApiClient", device: str | None, bucket: str | None) -> None:
    """Best effort: remove what a failed ``device create`` made, so that it can simply be rerun."""
    for what, remove, ident in (("device", api.delete_device, device), ("bucket", api.delete_bucket, bucket)):
        if ident is None:
            continue
        try:
            remove(ident)
            state.out.info(f"{what} '{ident}' removed again")
        except IotcliError as exc:
            state.out.warn(f"could not remove {what} '{ident}': {exc.message}")


@device_app.command("list")
def list_(
    type_: Annotated[DeviceType | None, typer.Option("--type", help="Only devices of this type.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Only devices whose name matches.")] = None,
    count: Annotated[int | None, typer.Option("--count", min=1, help="At most this many.")] = None,
    index: Annotated[int | None, typer.Option("--index", min=0, help="Skip this many (paging).")] = None,
) -> None:
    """List devices with their connection state.

    Example:  iotcli device list --type HTTP
    """
    state = get_state()
    rows = state.client().list_devices(
        type=type_.value if type_ else None, name=name, count=count, index=index
    )
    show_rows(
        state,
        rows,
        [
            ("device", "DEVICE"),
            ("name", "NAME"),
            ("type", "TYPE"),
            ("enabled", "ENABLED"),
            ("connection.active", "CONNECTED"),
            ("connection.ts", "SINCE"),
        ],
        DEVICE_TS_KEYS,
        empty="no devices yet: iotcli device create ID --bucket readings --with-token",
    )


@device_app.command("show")
def show_(device: DeviceArg) -> None:
    """Show one device.

    Example:  iotcli device show sensor-1
    """
    state = get_state()
    show(state, state.client().get_device(check_id(device, "device")), DEVICE_TS_KEYS)


@device_app.command("update")
def update(
    device: DeviceArg,
    name: Annotated[str | None, typer.Option("--name", help="New display name.")] = None,
    description: Annotated[str | None, typer.Option("--description", help="New description.")] = None,
    enabled: Annotated[
        bool | None,
        typer.Option("--enable/--disable", help="Enable or disable (a disabled device gets 403)."),
    ] = None,
    asset_type: Annotated[str | None, typer.Option("--asset-type", help="Asset type id ('' clears).")] = None,
    asset_group: Annotated[
        str | None, typer.Option("--asset-group", help="Asset group id ('' clears).")
    ] = None,
    product: Annotated[str | None, typer.Option("--product", help="Product id ('' clears).")] = None,
) -> None:
    """Change some fields of a device; the others stay as they are.

    Example:  iotcli device update sensor-1 --name "Greenhouse sensor" --disable
    """
    state = get_state()
    check_id(device, "device")
    changes = {
        k: v
        for k, v in {
            "name": name,
            "description": description,
            "enabled": enabled,
            "asset_type": asset_type,
            "asset_group": asset_group,
            "product": product,
        }.items()
        if v is not None
    }
    if not changes:
        raise UsageError(
            "nothing to update",
            hint="pass at least one of --name, --description, --enable/--disable, --asset-type, --asset-group, --product",
        )
    answer = state.client().update_device(device, changes)
    state.out.success(f"device '{device}' updated")
    if state.out.json_mode:
        state.out.data(answer if answer is not None else {"device": device, **changes})


@device_app.command("delete")
def delete(
    device: DeviceArg, yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False
) -> None:
    """Delete a device with its callback settings, tokens and properties (its buckets stay).

    Example:  iotcli device delete sensor-1 --yes
    """
    state = get_state()
    check_id(device, "device")
    confirm(
        state, f"Delete device '{device}' with its tokens and properties?", yes, what=f"device '{device}'"
    )
    state.client().delete_device(device)
    done(state, f"device '{device}' deleted", {"device": device, "deleted": True})


@device_app.command("stats")
def stats(device: DeviceArg) -> None:
    """Connection state and traffic of a device: connected, since when, IP, bytes in and out.

    Example:  iotcli device stats sensor-1
    """
    state = get_state()
    show(state, state.client().device_stats(check_id(device, "device")), ("connected_ts",))


# The subcommand of its own module, listed after the others.
device_app.command("snippet")(snippet)
