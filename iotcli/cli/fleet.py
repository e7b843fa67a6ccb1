"""Fleets of simulated HTTP devices: provision N devices in bulk, run them on Locust, remove them again.

``fleet provision --count N --prefix sim-`` creates the devices ``sim-0001`` .. ``sim-N`` (callback settings,
and with --with-token a device token each) and writes them to a devices file (mode 0600) that ``fleet run``
reads; a second run creates only what is missing. ``fleet deprovision --prefix sim-`` deletes them.
Tokens are never printed: they are only in the devices file (on the emulator they are made in bulk by its
``POST /_emulator/devices/bulk``; elsewhere one device at a time, --concurrency at once). ``fleet run`` runs the
fleet on Locust in this process, or with --master / --worker on Locust's master and workers (the optional
extra ``pip install 'iotcli[fleet]'``; without it: exit 3 and how to install it).
"""

import json
import os
import re
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Annotated, Any

import typer

from iotcli.cli import fleet_options, fleet_run
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
#: Devices provisioned at once by default, and at most.
DEFAULT_CONCURRENCY = 8
#: Devices per request of the emulator's bulk route.
BULK = 500
MAX_CONCURRENCY = 64


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
    if not PREFIX_RE.fullmatch(prefix):
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
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency", help="Devices provisioned at once (requests in flight); 1: one by one."
        ),
    ] = DEFAULT_CONCURRENCY,
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
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise UsageError(f"fleet provision: --concurrency must be 1..{MAX_CONCURRENCY}, not {concurrency}")
    if bucket is not None:
        check_id(bucket, "bucket")
    ids = device_ids(prefix, count)
    previous = read_devices_file(devices_file)
    known = {d.get("device"): d for d in previous.get("devices", []) if isinstance(d, dict)}
    api = state.client()
    present = existing_devices(state, prefix)
    bucket_created = ensure_bucket(api, bucket) if bucket else False
    settings = {"actions": {"write_bucket": bucket}} if bucket else None
    made: dict[str, tuple[dict[str, Any], bool, bool]] = {}

    def step(device: str) -> tuple[dict[str, Any], bool, bool, bool]:
        """What a device needs: (its entry so far, create it, set its callback, make a token)."""
        entry: dict[str, Any] = {"device": device, "callback_url": api.callback_url(device)}
        if bucket:
            entry["bucket"] = bucket
        old = known.get(device) or {}
        new_device = device not in present
        if new_device:
            old = {}  # a token of a device that was gone is void
        set_callback = bool(settings) and (new_device or old.get("bucket") != bucket)
        if old.get("token"):
            entry["token"] = old["token"]
        return entry, new_device, set_callback, with_token and not old.get("token")

    def one(device: str) -> tuple[dict[str, Any], bool, bool]:
        """The device's steps, one after the other: create, callback, token; (entry, created, token made)."""
        entry, new_device, set_callback, make_token = step(device)
        if new_device:
            api.create_device(device, type="HTTP")
        if set_callback and settings:
            api.set_callback(device, settings)
        if make_token:
            entry["token"] = api.create_device_token(device, TOKEN_NAME)["token"]
        return entry, new_device, make_token

    def bulk(chunk: list[str]) -> bool:
        """The emulator's bulk route: a chunk of devices in one request; False on a server without it."""
        steps = {device: step(device) for device in chunk}
        items = []
        for device, (_entry, _new, set_callback, make_token) in steps.items():
            item: dict[str, Any] = {"device": device}
            if set_callback:
                item["callback"] = settings
            if make_token:
                item["token_name"] = TOKEN_NAME
            items.append(item)
        try:
            answer = api.call("POST", "/_emulator/devices/bulk", json={"devices": items})
        except ApiError as exc:
            if exc.status in (404, 405) and not made:
                return False  # a real tenant: one device at a time
            raise
        for result in answer["devices"]:
            entry, _new, _cb, _tok = steps[result["device"]]
            if result.get("token"):
                entry["token"] = result["token"]
            made[result["device"]] = (entry, bool(result["created"]), bool(result.get("token")))
        return True

    try:
        with state.out.progress("provisioning", len(ids)) as bar:
            chunks = [ids[i : i + BULK] for i in range(0, len(ids), BULK)]
            rest = ids
            for n, chunk in enumerate(chunks):
                if not bulk(chunk):
                    rest = ids[n * BULK :]
                    break
                bar.advance(len(chunk))
            else:
                rest = []
            if rest:
                # Devices in parallel (--concurrency requests in flight), each device's steps in order.
                with ThreadPoolExecutor(concurrency) as pool:
                    futures = {pool.submit(one, device): device for device in rest}
                    try:
                        for future in as_completed(futures):
                            made[futures[future]] = future.result()
                            bar.advance()
                    except BaseException:
                        for future in futures:
                            future.cancel()
                        raise
    finally:
        # What was made so far is written even when a request fails, so a rerun goes on from there.
        entries = [made[d][0] for d in ids if d in made]
        kept = [
            d for d in known.values() if d.get("device") not in made and fleet_member(prefix, d["device"])
        ]
        write_devices_file(
            devices_file,
            {"server": api.base_url, "user": state.user, "prefix": prefix, "devices": entries + kept},
        )
    created = sum(1 for _e, new_device, _t in made.values() if new_device)
    tokens_made = sum(1 for _e, _n, token_made in made.values() if token_made)
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


@fleet_app.command("run")
def run(
    devices_file: FileOpt = Path(DEFAULT_FILE),
    kind: fleet_options.KindOpt = None,
    users: fleet_options.UsersOpt = None,
    interval: fleet_options.IntervalOpt = "60s",
    jitter: fleet_options.JitterOpt = "0%",
    duration: fleet_options.DurationOpt = None,
    uplinks: fleet_options.UplinksOpt = None,
    ramp_up: fleet_options.RampUpOpt = "0s",
    payload: fleet_options.PayloadOpt = None,
    fport: fleet_options.FportOpt = 1,
    to: fleet_options.ToOpt = None,
    connection: fleet_options.ConnectionOpt = None,
    downlink_url: fleet_options.DownlinkUrlOpt = None,
    no_downlink_url: fleet_options.NoDownlinkUrlOpt = False,
    header: fleet_options.HeaderOpt = None,
    master: fleet_options.MasterOpt = False,
    expect_workers: fleet_options.ExpectWorkersOpt = 1,
    wait_workers: fleet_options.WaitWorkersOpt = "60s",
    master_bind_host: fleet_options.MasterBindHostOpt = "*",
    worker: fleet_options.WorkerOpt = False,
    master_host: fleet_options.MasterHostOpt = "127.0.0.1",
    master_port: fleet_options.MasterPortOpt = fleet_options.MASTER_PORT,
    connect_timeout: fleet_options.ConnectTimeoutOpt = "30s",
    csv_out: fleet_options.CsvOutOpt = False,
    live: fleet_options.LiveOpt = True,
) -> None:
    """Run the fleet on Locust, showing a live table (rate, latency, errors by kind), then a summary.

    Each simulated device sends on its own schedule (--interval with --jitter) until --duration or --uplinks (or Ctrl-C: every device stops and the summary is still printed, exit 130). http devices come from the devices file of `fleet provision`; lorawan devices go through the emulator's ingress, or with --to straight to an application server in the IoT Flow format. One process by default; --master and --worker use Locust's distributed mode (the master holds the fleet and splits it across the workers). Needs the extra: pip install 'iotcli[fleet]'.

    Example:
      iotcli fleet run --users 100 --interval 60s --jitter 20% --duration 5m --ramp-up 30s
    """
    fleet_run.start(
        get_state(),
        devices_file=devices_file,
        kind=kind,
        users=users,
        interval=interval,
        jitter=jitter,
        duration=duration,
        uplinks=uplinks,
        ramp_up=ramp_up,
        payload=payload,
        fport=fport,
        to=to,
        connection=connection,
        downlink_url=downlink_url,
        no_downlink_url=no_downlink_url,
        header=header,
        master=master,
        expect_workers=expect_workers,
        wait_workers=wait_workers,
        master_bind_host=master_bind_host,
        worker=worker,
        master_host=master_host,
        master_port=master_port,
        connect_timeout=connect_timeout,
        csv_out=csv_out,
        live=live,
    )
