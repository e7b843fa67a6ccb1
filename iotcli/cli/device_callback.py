"""``iotcli device callback show|set``: what the platform does with each POST to a device's callback URL.

The callback options (``CallbackFlags``: ``--bucket --endpoint --property --response-property
--timeout``) and how they change the settings (``merge_callback``) are shared with ``device create``.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from iotcli.cli.bundles import takes
from iotcli.cli.resources import DeviceIdArg, check_id
from iotcli.cli.state import get_state
from iotcli.errors import UsageError

if TYPE_CHECKING:
    from iotcli.client.api import ApiClient

callback_app = typer.Typer(
    help="Callback settings: what the platform does with each POST to the callback URL.", no_args_is_help=True
)

TimeoutOpt = Annotated[
    int | None,
    typer.Option(
        "--timeout",
        min=0,
        help="Minutes without a call before the device counts as disconnected (0 = never) [10].",
    ),
]


@dataclass
class CallbackFlags:
    """What the platform does with each callback: declared once, for ``device create`` and
    ``device callback set`` (``bundles.takes``); None means 'not given', '' clears an action."""

    bucket: Annotated[
        str | None,
        typer.Option(
            "--bucket",
            help="Store each payload in this bucket ('' stops; device create makes a missing one).",
        ),
    ] = None
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", help="Call this endpoint with each payload ('' stops).")
    ] = None
    prop: Annotated[
        str | None,
        typer.Option("--property", help="Keep the last payload in this device property ('' stops)."),
    ] = None
    response_property: Annotated[
        str | None,
        typer.Option(
            "--response-property",
            help="Answer each callback with this property's value, commands back ('' stops).",
        ),
    ] = None
    timeout: TimeoutOpt = None

    def changes(self) -> tuple[dict[str, str], dict[str, int]]:
        """The actions and properties the options name ('' means: clear that action)."""
        actions: dict[str, str] = {}
        for key, value, what in (
            ("write_bucket", self.bucket, "bucket"),
            ("call_endpoint", self.endpoint, "endpoint"),
            ("set_property", self.prop, "property"),
            ("send_property", self.response_property, "response property"),
        ):
            if value is not None:
                actions[key] = value if value == "" else check_id(value, what)
        props = {"timeout": self.timeout} if self.timeout is not None else {}
        return actions, props


def merge_callback(current: dict[str, Any], actions: dict[str, str], props: dict[str, int]) -> dict[str, Any]:
    """The settings to PUT: the current ones with the changes applied; empty actions are dropped."""
    merged_actions = {k: v for k, v in dict(current.get("actions") or {}).items() if v not in (None, "")}
    for key, value in actions.items():
        if value == "":
            merged_actions.pop(key, None)
        else:
            merged_actions[key] = value
    merged_props = dict(current.get("properties") or {})
    merged_props.update(props)
    settings: dict[str, Any] = {"actions": merged_actions}
    if merged_props:
        settings["properties"] = merged_props
    return settings


def callback_view(api: "ApiClient", device: str, settings: dict[str, Any]) -> dict[str, Any]:
    return {**settings, "callback_url": api.callback_url(device)}


@callback_app.command("show")
def callback_show(device: DeviceIdArg) -> None:
    """Show what happens to each callback of a device, and its callback URL.

    Example:  iotcli device callback show sensor-1
    """
    state = get_state()
    check_id(device, "device")
    api = state.client()
    settings = api.get_callback(device)
    if state.out.json_mode:
        state.out.data(callback_view(api, device, settings))
        return
    actions = settings.get("actions") or {}
    props = settings.get("properties") or {}
    state.out.data(
        {
            "callback_url": api.callback_url(device),
            "write_bucket": actions.get("write_bucket"),
            "call_endpoint": actions.get("call_endpoint"),
            "set_property": actions.get("set_property"),
            "send_property": actions.get("send_property"),
            "timeout": f"{props['timeout']} min" if props.get("timeout") is not None else None,
        }
    )


@callback_app.command("set")
@takes(flags=CallbackFlags)
def callback_set(
    device: DeviceIdArg,
    flags: CallbackFlags = CallbackFlags(),  # noqa: B008 - expanded into the options by @takes
) -> None:
    """Change the callback settings of a device; what you do not name stays as it is.

    Examples:
      iotcli device callback set sensor-1 --bucket readings --timeout 5
      iotcli device callback set sensor-1 --endpoint ''      # stop calling the endpoint
    """
    state = get_state()
    check_id(device, "device")
    actions, props = flags.changes()
    if not actions and not props:
        raise UsageError(
            "nothing to change",
            hint="pass --bucket, --endpoint, --property, --response-property or --timeout",
        )
    api = state.client()
    settings = merge_callback(api.get_callback(device), actions, props)
    answer = api.set_callback(device, settings)
    state.out.success(f"callback of device '{device}' updated")
    if state.out.json_mode:
        state.out.data(callback_view(api, device, answer or settings))
