"""Fleets of simulated HTTP devices: provision N devices in bulk, run them on Locust, remove them again.

``fleet provision --count N --prefix sim-`` creates the devices ``sim-0001`` .. ``sim-N`` (callback settings,
and with --with-token a device token each) and writes them to a devices file (mode 0600) that ``fleet run``
reads; a second run creates only what is missing. ``fleet deprovision --prefix sim-`` deletes them.
Tokens are never printed: they are only in the devices file. ``fleet run`` runs the fleet on Locust in
this process (the optional extra ``pip install 'iotcli[fleet]'``; without it: exit 3 and how to install it).
"""

import importlib.util
import json
import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from iotcli.cli.device import ensure_bucket
from iotcli.cli.resources import check_id, confirm
from iotcli.cli.state import CliState, get_state
from iotcli.errors import ApiError, ConfigError, UsageError

fleet_app = typer.Typer(
    help="Fleets of simulated HTTP devices: provision N devices in bulk, run them on Locust, remove them again.",
    no_args_is_help=True,
)

#: At most this many devices in one provision run.
MAX_COUNT = 100_000
#: A prefix leaves room for the number in a 32-character device id.
PREFIX_RE = re.compile(r"^[A-Za-z0-9_-]{1,24}$")
DEFAULT_FILE = "fleet-devices.json"
TOKEN_NAME = "fleet"
PAGE = 500


def register(app: typer.Typer) -> None:
    app.add_typer(fleet_app, name="fleet")


PrefixOpt = Annotated[
    str, typer.Option("--prefix", help="Device ids are PREFIX + a number (sim-0001, sim-0002, ...).")
]
FileOpt = Annotated[
    Path,
    typer.Option("--devices-file", help="The devices file (ids, callback URLs, tokens; mode 0600)."),
]


def check_prefix(prefix: str) -> str:
    if not PREFIX_RE.match(prefix):
        raise UsageError(
            f"fleet: prefix '{prefix[:64]}' is not valid: use 1-24 letters, digits, '_' or '-'",
            hint="for example --prefix sim-",
        )
    return prefix


def device_ids(prefix: str, count: int) -> list[str]:
    """``sim-0001`` .. : numbers padded to at least 4 digits."""
    width = max(4, len(str(count)))
    return [f"{prefix}{i:0{width}d}" for i in range(1, count + 1)]


def fleet_member(prefix: str, device: str) -> bool:
    """A device of the fleet ``prefix``: the prefix and then only digits."""
    return device.startswith(prefix) and device[len(prefix) :].isdigit()


def existing_devices(state: CliState, prefix: str) -> set[str]:
    api = state.client()
    found: set[str] = set()
    index = 0
    while True:
        page = api.list_devices(count=PAGE, index=index)
        for item in page:
            name = str(item.get("device", ""))
            if fleet_member(prefix, name):
                found.add(name)
        if len(page) < PAGE:
            return found
        index += PAGE


def read_devices_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"fleet: cannot read devices file {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("devices", []), list):
        raise ConfigError(f"fleet: {path} is not a devices file (no 'devices' list)")
    return data


def write_devices_file(path: Path, data: dict[str, Any]) -> None:
    """Written with mode 0600 (it holds device tokens), replacing the old one atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


@fleet_app.command("provision")
def provision(
    count: Annotated[int, typer.Option("--count", help="How many devices the fleet has.")],
    prefix: PrefixOpt = "sim-",
    bucket: Annotated[
        str | None, typer.Option("--bucket", help="Each device stores its payloads in this bucket.")
    ] = None,
    with_token: Annotated[
        bool, typer.Option("--with-token", help="Give each device its own token (kept in the devices file).")
    ] = False,
    devices_file: FileOpt = Path(DEFAULT_FILE),
) -> None:
    """Create N HTTP devices (callback settings, device tokens) in bulk; a second run creates only what is missing.

    Writes the devices file (ids, callback URLs and, with --with-token, tokens; mode 0600) that `fleet run` reads. Tokens are never printed.

    Example:
      iotcli fleet provision --count 100 --prefix sim- --bucket fleet --with-token
    """
    state = get_state()
    check_prefix(prefix)
    if count < 1 or count > MAX_COUNT:
        raise UsageError(f"fleet provision: --count must be 1..{MAX_COUNT}, not {count}")
    if bucket is not None:
        check_id(bucket, "bucket")
    ids = device_ids(prefix, count)
    previous = read_devices_file(devices_file)
    known = {d.get("device"): d for d in previous.get("devices", []) if isinstance(d, dict)}
    api = state.client()
    present = existing_devices(state, prefix)
    bucket_created = ensure_bucket(api, bucket) if bucket else False
    settings = {"actions": {"write_bucket": bucket}} if bucket else None
    created = tokens_made = 0
    entries: list[dict[str, Any]] = []
    try:
        with state.out.progress("provisioning", len(ids)) as bar:
            for device in ids:
                entry: dict[str, Any] = {"device": device, "callback_url": api.callback_url(device)}
                old = known.get(device) or {}
                if device not in present:
                    api.create_device(device, type="HTTP")
                    created += 1
                    old = {}  # a token of a device that was gone is void
                    if settings:
                        api.set_callback(device, settings)
                elif settings and old.get("bucket") != bucket:
                    api.set_callback(device, settings)
                if bucket:
                    entry["bucket"] = bucket
                if old.get("token"):
                    entry["token"] = old["token"]
                elif with_token:
                    entry["token"] = api.create_device_token(device, TOKEN_NAME)["token"]
                    tokens_made += 1
                entries.append(entry)
                bar.advance()
    finally:
        # What was made so far is written even when a request fails, so a rerun goes on from there.
        done_ids = {e["device"] for e in entries}
        kept = [
            d for d in known.values() if d.get("device") not in done_ids and fleet_member(prefix, d["device"])
        ]
        write_devices_file(
            devices_file,
            {"server": api.base_url, "user": state.user, "prefix": prefix, "devices": entries + kept},
        )
    data = {
        "prefix": prefix,
        "count": count,
        "created": created,
        "existing": count - created,
        "tokens_created": tokens_made,
        "bucket": bucket,
        "bucket_created": bucket_created,
        "devices_file": str(devices_file),
    }
    if state.out.json_mode:
        state.out.data(data)
        return
    if created == 0 and tokens_made == 0:
        state.out.success(f"fleet '{prefix}': all {count} devices already exist; nothing created")
    else:
        state.out.success(
            f"fleet '{prefix}': {created} devices created, {count - created} already there"
            + (f", {tokens_made} tokens" if tokens_made else "")
        )
    state.out.info(f"devices file: {devices_file} (mode 0600; holds the tokens)")


@fleet_app.command("deprovision")
def deprovision(
    prefix: PrefixOpt = "sim-",
    devices_file: FileOpt = Path(DEFAULT_FILE),
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete every device of the fleet (PREFIX + a number) and its entries in the devices file.

    Example:
      iotcli fleet deprovision --prefix sim- --yes
    """
    state = get_state()
    check_prefix(prefix)
    present = sorted(existing_devices(state, prefix))
    if present:
        confirm(state, f"Delete {len(present)} devices {prefix}*?", yes, what="the fleet")
    api = state.client()
    deleted = 0
    with state.out.progress("deprovisioning", len(present)) as bar:
        for device in present:
            try:
                api.delete_device(device)
                deleted += 1
            except ApiError as exc:
                if exc.status != 404:
                    raise
            bar.advance()
    previous = read_devices_file(devices_file)
    if previous:
        rest = [
            d
            for d in previous.get("devices", [])
            if isinstance(d, dict) and not fleet_member(prefix, str(d.get("device", "")))
        ]
        if rest:
            write_devices_file(devices_file, {**previous, "devices": rest})
        else:
            devices_file.unlink()
    data = {"prefix": prefix, "deleted": deleted}
    if state.out.json_mode:
        state.out.data(data)
    elif deleted:
        state.out.success(f"fleet '{prefix}': {deleted} devices deleted")
    else:
        state.out.success(f"fleet '{prefix}': no devices; nothing deleted")


class Kind(StrEnum):
    http = "http"
    lorawan = "lorawan"


INSTALL_HINT = "pip install 'iotcli[fleet]'"


def require_locust() -> None:
    """Locust is an optional extra: without it, one line saying how to install it (exit 3)."""
    try:
        missing = importlib.util.find_spec("locust") is None
    except ImportError:
        missing = True
    if missing:
        raise ConfigError("fleet run needs Locust, which is not installed", hint=INSTALL_HINT)


def _duration(text: str | None, option: str) -> float | None:
    from iotcli.fleet.schedule import parse_duration

    if text is None:
        return None
    try:
        value = parse_duration(text, option)
    except ValueError as exc:
        raise UsageError(f"fleet run: {exc}") from None
    return value


@fleet_app.command("run")
def run(
    devices_file: FileOpt = Path(DEFAULT_FILE),
    kind: Annotated[
        Kind,
        typer.Option(
            "--kind",
            help="http: each device POSTs to its callback URL; lorawan: uplinks through the emulator.",
        ),
    ] = Kind.http,
    users: Annotated[
        int | None, typer.Option("--users", help="Simulated devices [all in the devices file; lorawan: 10].")
    ] = None,
    interval: Annotated[
        str, typer.Option("--interval", help="Time between two uplinks of one device (500ms, 60s, 2m).")
    ] = "60s",
    jitter: Annotated[
        str, typer.Option("--jitter", help="Each wait varies by up to this much (20% or 0.2).")
    ] = "0%",
    duration: Annotated[
        str | None, typer.Option("--duration", help="Stop after this long (30s, 5m).")
    ] = None,
    uplinks: Annotated[
        int | None, typer.Option("--uplinks", help="Stop after this many uplinks in all.")
    ] = None,
    ramp_up: Annotated[
        str, typer.Option("--ramp-up", help="Start the devices over this long (0: all at once).")
    ] = "0s",
    payload: Annotated[
        str | None,
        typer.Option(
            "--payload",
            help="Body template ({{device}}, {{counter}}, {{walk:temperature:18:25}}, {{i}}, {{fcnt}}, {{now}}).",
        ),
    ] = None,
    fport: Annotated[int, typer.Option("--fport", help="lorawan: the FPort of each uplink.")] = 1,
) -> None:
    """Run the fleet on Locust in this process, then print a summary (sent, errors by kind, latency, rate).

    Each simulated device sends on its own schedule (--interval with --jitter) until --duration or --uplinks (or Ctrl-C: every device stops and the summary is still printed, exit 130). http devices come from the devices file of `fleet provision`. Needs the extra: pip install 'iotcli[fleet]'.

    Example:
      iotcli fleet run --users 100 --interval 60s --jitter 20% --duration 5m --ramp-up 30s
    """
    state = get_state()
    from iotcli.fleet.schedule import Interval, parse_jitter
    from iotcli.fleet.template import FleetTemplate

    every = _duration(interval, "--interval") or 0.0
    if every <= 0:
        raise UsageError("fleet run: --interval must be above 0")
    try:
        spread = parse_jitter(jitter)
    except ValueError as exc:
        raise UsageError(f"fleet run: {exc}") from None
    limit = _duration(duration, "--duration")
    ramp = _duration(ramp_up, "--ramp-up") or 0.0
    if limit is not None and limit <= 0:
        raise UsageError("fleet run: --duration must be above 0")
    if uplinks is not None and uplinks < 1:
        raise UsageError(f"fleet run: --uplinks must be at least 1, not {uplinks}")
    if users is not None and users < 1:
        raise UsageError(f"fleet run: --users must be at least 1, not {users}")
    if payload is not None:
        try:
            FleetTemplate(payload)
        except ValueError as exc:
            raise UsageError(f"fleet run: --payload: {exc}") from None
    if kind is Kind.http:
        from iotcli.fleet.devices import load_devices

        try:
            header, sims = load_devices(devices_file)
        except FileNotFoundError:
            raise UsageError(
                f"fleet run: no devices file {devices_file}",
                hint="iotcli fleet provision --count N --prefix sim- --with-token",
            ) from None
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"fleet run: cannot read devices file {devices_file}: {exc}") from None
        if not sims:
            raise UsageError(
                f"fleet run: {devices_file} lists no devices", hint="iotcli fleet provision --count N"
            )
        if not any(s.token for s in sims):
            raise UsageError(
                f"fleet run: the devices in {devices_file} have no tokens",
                hint="iotcli fleet provision --count N --with-token",
            )
        count = users or len(sims)
        if count > len(sims):
            raise UsageError(f"fleet run: --users {count} but {devices_file} has {len(sims)} devices")
        host = str(header.get("server") or state.server)
    else:
        count = users or 10
        host = state.server
    require_locust()
    from iotcli.fleet import users as fleet_users
    from iotcli.fleet.runner import run_fleet

    attrs: dict[str, Any] = {"abstract": False, "host": host, "interval": Interval(every, spread)}
    if payload is not None:
        attrs["payload"] = payload
    if kind is Kind.http:
        attrs["devices"] = sims[:count]
        base: type[Any] = fleet_users.HttpDevice
    else:
        attrs.update(deveuis=fleet_users.deveuis(count), fport=fport, account_token=state.require_token())
        base = fleet_users.LoRaWANDevice
    user_class = type("FleetDevice", (base,), attrs)
    state.out.info(
        f"fleet: {count} {kind.value} devices against {host}, one uplink every {interval} ±{jitter}"
    )
    result = run_fleet(user_class, users=count, ramp_up=ramp, duration=limit, uplinks=uplinks)
    result["kind"] = kind.value
    show_summary(state, result)
    if result["interrupted"]:
        raise typer.Exit(130)


def show_summary(state: CliState, result: dict[str, Any]) -> None:
    if state.out.json_mode:
        state.out.data(result)
        return
    lat = result["latency_ms"]

    def ms(v: Any) -> str:
        return "-" if v is None else f"{v:.0f} ms"

    rows = {
        "devices": result["users"],
        "sent": result["sent"],
        "ok": result["ok"],
        "errors": result["errors"],
        "latency p50/p95/p99": f"{ms(lat['p50'])} / {ms(lat['p95'])} / {ms(lat['p99'])}",
        "rate": f"{result['rate_per_s']}/s over {result['elapsed_s']} s",
    }
    for err_kind, n in result["errors_by_kind"].items():
        rows[f"  {err_kind}"] = n
    if result["interrupted"]:
        rows["stopped"] = "interrupted (Ctrl-C)"
    state.out.data(rows)
