"""Fleets of simulated HTTP devices: provision N devices in bulk, remove them again.

``fleet provision --count N --prefix sim-`` creates the devices ``sim-0001`` .. ``sim-N`` (callback settings,
and with --with-token a device token each) and writes them to a devices file (mode 0600) that ``fleet run``
reads; a second run creates only what is missing. ``fleet deprovision --prefix sim-`` deletes them.
Tokens are never printed: they are only in the devices file.
"""

import json
import os
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from iotcli.cli.device import ensure_bucket
from iotcli.cli.resources import check_id, confirm
from iotcli.cli.state import CliState, get_state
from iotcli.errors import ApiError, ConfigError, UsageError

fleet_app = typer.Typer(
    help="Fleets of simulated HTTP devices: provision N devices in bulk, remove them again.",
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
