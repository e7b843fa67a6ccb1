"""``iotcli device token create|list|revoke``: bearer tokens that authorise one device only."""

from typing import Annotated

import typer

from iotcli.cli.resources import DeviceIdArg, check_id, confirm, done, parse_ts, show_rows
from iotcli.cli.state import get_state

token_app = typer.Typer(
    help="Device tokens: bearer tokens that authorise one device only.", no_args_is_help=True
)


@token_app.command("create")
def token_create(
    device: DeviceIdArg,
    name: Annotated[str, typer.Option("--name", help="A name to recognise the token by.")] = "callback",
    expires: Annotated[
        str | None,
        typer.Option("--expires", help="Expiry time: epoch ms or ISO 8601 [default: never]."),
    ] = None,
) -> None:
    """Create a device token; its secret is printed only this once.

    Example:  iotcli device token create sensor-1 --name field-unit --expires 2027-01-01
    """
    state = get_state()
    check_id(device, "device")
    expiration = parse_ts(expires, "--expires") if expires is not None else None
    token = state.client().create_device_token(device, name, expiration=expiration)
    state.out.data(token)
    state.out.info("The token is shown only this once: keep it somewhere safe.")


@token_app.command("list")
def token_list(device: DeviceIdArg) -> None:
    """List the tokens of a device (never their secrets).

    Example:  iotcli device token list sensor-1
    """
    state = get_state()
    show_rows(
        state,
        state.client().list_device_tokens(check_id(device, "device")),
        [
            ("id", "ID"),
            ("name", "NAME"),
            ("created", "CREATED"),
            ("expires", "EXPIRES"),
            ("last_used", "LAST USED"),
        ],
        ("created", "expires", "last_used"),
        empty="no tokens yet: iotcli device token create DEVICE",
    )


@token_app.command("revoke")
def token_revoke(
    device: DeviceIdArg,
    token_id: Annotated[str, typer.Argument(help="Token id (see `device token list`).", show_default=False)],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Revoke a device token: requests with it are refused at once.

    Example:  iotcli device token revoke sensor-1 3f2a9c0d1e2b4a5c --yes
    """
    state = get_state()
    check_id(device, "device")
    confirm(state, f"Revoke token '{token_id}' of device '{device}'?", yes, what=f"token '{token_id}'")
    state.client().revoke_device_token(device, token_id)
    done(
        state,
        f"token '{token_id}' of device '{device}' revoked",
        {"device": device, "id": token_id, "revoked": True},
    )
