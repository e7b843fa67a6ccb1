"""``iotcli emulator status|reset|clock``: talk to a running emulator (``iotcli emulate`` starts one)."""

from typing import Annotated

import typer

from iotcli.cli.state import get_state
from iotcli.errors import UsageError

emulator_app = typer.Typer(
    help="Inspect and steer a running emulator (status, reset, clock, open, stop).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(emulator_app, name="emulator")


@emulator_app.command("status")
def status() -> None:
    """Is the emulator up? Shows version, user, clock.

    Example:  iotcli emulator status
    """
    state = get_state()
    state.out.data(state.client().health())


@emulator_app.command("reset")
def reset(yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False) -> None:
    """Wipe all emulator state except the account.

    Example:  iotcli emulator reset --yes
    """
    from iotcli.cli.prompt import confirm_delete

    state = get_state()
    confirm_delete(
        state.out, f"Wipe all state of the emulator at {state.server}?", yes, what="the emulator's state"
    )
    state.client().reset()
    state.out.success("emulator state wiped")
    if state.out.json_mode:
        state.out.json({"data": {"status": "reset"}})


@emulator_app.command("clock")
def clock(
    advance: Annotated[
        str | None, typer.Option("--advance", help="Jump forward: seconds, or 90s, 10m, 2h, 1d.")
    ] = None,
) -> None:
    """Show the emulator clock, or move it forward to fire timers now.

    Examples:
      iotcli emulator clock
      iotcli emulator clock --advance 11m     # past a 10-minute device timeout
    """
    state = get_state()
    api = state.client()
    data = api.advance_clock(parse_duration(advance)) if advance is not None else api.clock()
    if not state.out.json_mode and isinstance(data, dict):
        from iotcli.cli.output import seconds_to_iso

        # Epoch numbers for scripts (--json); local ISO 8601 for people.
        data = {
            "now": seconds_to_iso(data.get("now")) or data.get("now"),
            "utc": data.get("iso"),
            "time_scale": data.get("time_scale"),
        }
    state.out.data(data)


def parse_duration(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    raw = text.strip().lower()
    factor = 1
    if raw and raw[-1] in units:
        factor = units[raw[-1]]
        raw = raw[:-1]
    try:
        value = float(raw) * factor
    except ValueError:
        raise UsageError(f"'{text}' is not a duration (examples: 30, 90s, 10m, 2h, 1d)") from None
    if value < 0:
        raise UsageError("the clock only moves forward")
    return value


@emulator_app.command("stop")
def stop() -> None:
    """Stop the emulator started with `iotcli emulate --detach` (its recorded PID), cleanly.

    With several detached emulators, --server names the one to stop.

    Example:  iotcli emulator stop
    """
    from iotcli.cli.background import stop as stop_detached

    state = get_state()
    result = stop_detached(state.opts.server)
    if result["status"] == "not running":
        state.out.info(f"the emulator at {result['url']} (pid {result['pid']}) was not running any more")
    else:
        state.out.success(f"emulator at {result['url']} (pid {result['pid']}) {result['status']}")
    if state.out.json_mode:
        state.out.json({"data": result})


@emulator_app.command("open")
def open_inspector(
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Only print the inspector's URL (e.g. on a remote shell).")
    ] = False,
) -> None:
    """Open the web inspector of the emulator in the default browser (log in with the account token).

    Example:  iotcli emulator open
    """
    state = get_state()
    state.client().health()  # not running -> the usual network error (exit 6) instead of a dead tab
    url = f"{state.server}/_emulator/ui/"
    opened = False
    if not no_browser:
        import webbrowser

        opened = webbrowser.open(url)
    if state.out.json_mode:
        state.out.json({"data": {"url": url, "opened": opened}})
        return
    state.out.text(url)
    if not no_browser and not opened:
        state.out.warn("no browser could be started here: open the URL above yourself")
