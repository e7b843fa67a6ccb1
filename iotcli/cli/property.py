"""``iotcli property ...``: device properties, named JSON values the platform keeps for a device."""

import json
from typing import Annotated

import typer

from iotcli.cli.resources import YesOpt, check_id, confirm, done, parse_loose_value, show_rows
from iotcli.cli.state import get_state

property_app = typer.Typer(
    help="Device properties: named JSON values kept by the platform for a device.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(property_app, name="property")


DeviceArg = Annotated[str, typer.Argument(help="Device id.", show_default=False)]
PropertyArg = Annotated[str, typer.Argument(help="Property id.", show_default=False)]


@property_app.command("list")
def property_list(device: DeviceArg) -> None:
    """List the properties of a device.

    Example:  iotcli property list sensor-1
    """
    state = get_state()
    show_rows(
        state,
        state.client().list_properties(check_id(device, "device")),
        [("property", "PROPERTY"), ("value", "VALUE"), ("modified", "MODIFIED")],
        ("created", "modified"),
        empty="no properties yet: iotcli property set DEVICE PROPERTY VALUE",
    )


@property_app.command("get")
def property_get(device: DeviceArg, prop: PropertyArg) -> None:
    """Print a property's value (as JSON); --json prints the whole property.

    Example:  iotcli property get sensor-1 last_reading
    """
    state = get_state()
    obj = state.client().get_property(check_id(device, "device"), check_id(prop, "property"))
    if state.out.json_mode or not isinstance(obj, dict):
        state.out.data(obj)
        return
    value = obj.get("value")
    state.out.text(value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False))


@property_app.command("set")
def property_set(
    device: DeviceArg,
    prop: PropertyArg,
    value: Annotated[str, typer.Argument(help="JSON when it parses (21.5, true, {...}), else a string.")],
    string: Annotated[
        bool, typer.Option("--string", "-s", help="Store VALUE as a string even if it is JSON.")
    ] = False,
) -> None:
    """Create or overwrite a device property.

    Examples:
      iotcli property set sensor-1 command '{"led": "on"}'
      iotcli property set sensor-1 label 42 --string
    """
    state = get_state()
    check_id(device, "device")
    check_id(prop, "property")
    parsed = value if string else parse_loose_value(value)
    answer = state.client().set_property(device, prop, parsed)
    data = answer if isinstance(answer, dict) else {"property": prop, "value": parsed}
    done(state, f"property '{prop}' of device '{device}' set", data)


@property_app.command("delete")
def property_delete(device: DeviceArg, prop: PropertyArg, yes: YesOpt = False) -> None:
    """Delete a device property.

    Example:  iotcli property delete sensor-1 command --yes
    """
    state = get_state()
    check_id(device, "device")
    check_id(prop, "property")
    confirm(state, f"Delete property '{prop}' of device '{device}'?", yes, what=f"property '{prop}'")
    state.client().delete_property(device, prop)
    done(
        state,
        f"property '{prop}' of device '{device}' deleted",
        {"device": device, "property": prop, "deleted": True},
    )
