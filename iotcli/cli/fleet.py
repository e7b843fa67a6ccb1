"""Fleets of simulated HTTP devices: provision N devices in bulk, run them on Locust, remove them again.

``fleet provision --count N --prefix sim-`` creates the devices ``sim-0001`` .. ``sim-N`` (callback settings,
and with --with-token a device token each) and writes them to a devices file (mode 0600) that ``fleet run``
reads; a second run creates only what is missing. ``fleet deprovision --prefix sim-`` deletes them.
Tokens are never printed: they are only in the devices file (on the emulator they are made in bulk by its
``POST /_emulator/devices/bulk``; elsewhere one device at a time, --concurrency at once). ``fleet run`` runs the
fleet on Locust in this process, or with --master / --worker on Locust's master and workers (the optional
extra ``pip install 'iotcli[fleet]'``; without it: exit 3 and how to install it).
"""

import importlib.util
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor, as_completed
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


class Kind(StrEnum):
    http = "http"
    lorawan = "lorawan"


INSTALL_HINT = "pip install 'iotcli[fleet]'"
#: Locust's master port.
MASTER_PORT = 5557
RUN_PANEL = "Distributed (Locust master/workers)"
TO_PANEL = "LoRaWAN straight to an application server (--to)"


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


def _headers(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"fleet run: --header '{item[:64]}' must be NAME:VALUE")
        out[name.strip()] = value.strip()
    return out


@fleet_app.command("run")
def run(
    devices_file: FileOpt = Path(DEFAULT_FILE),
    kind: Annotated[
        Kind | None,
        typer.Option(
            "--kind",
            help="http: each device POSTs to its callback URL; lorawan: uplinks through the emulator"
            " (or with --to straight to an application server) [http; with --to: lorawan].",
            show_default=False,
        ),
    ] = None,
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
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Send the LoRaWAN uplinks to this application server URL in the IoT Flow format.",
            rich_help_panel=TO_PANEL,
        ),
    ] = None,
    connection: Annotated[
        str | None,
        typer.Option(
            "--connection",
            help="With --to: the downlinkUrl is this emulator connection's [the one whose destinationURL is --to].",
            rich_help_panel=TO_PANEL,
        ),
    ] = None,
    downlink_url: Annotated[
        str | None,
        typer.Option(
            "--downlink-url",
            help="With --to: the downlinkUrl to put in each uplink.",
            rich_help_panel=TO_PANEL,
        ),
    ] = None,
    no_downlink_url: Annotated[
        bool,
        typer.Option("--no-downlink-url", help="With --to: no downlinkUrl.", rich_help_panel=TO_PANEL),
    ] = False,
    header: Annotated[
        list[str] | None,
        typer.Option(
            "--header",
            "-H",
            help="With --to: a header NAME:VALUE for the application server (repeatable).",
            rich_help_panel=TO_PANEL,
        ),
    ] = None,
    master: Annotated[
        bool,
        typer.Option(
            "--master",
            help="Be Locust's master: wait for workers, split the fleet across them.",
            rich_help_panel=RUN_PANEL,
        ),
    ] = False,
    expect_workers: Annotated[
        int,
        typer.Option(
            "--expect-workers",
            help="--master: start when this many workers are connected.",
            rich_help_panel=RUN_PANEL,
        ),
    ] = 1,
    wait_workers: Annotated[
        str,
        typer.Option(
            "--wait-workers",
            help="--master: give up when they are not all there after this long.",
            rich_help_panel=RUN_PANEL,
        ),
    ] = "60s",
    master_bind_host: Annotated[
        str,
        typer.Option(
            "--master-bind-host",
            help="--master: the interface to listen on (* = all).",
            rich_help_panel=RUN_PANEL,
        ),
    ] = "*",
    worker: Annotated[
        bool,
        typer.Option(
            "--worker",
            help="Be a Locust worker of the master at --master-host (it sends the fleet).",
            rich_help_panel=RUN_PANEL,
        ),
    ] = False,
    master_host: Annotated[
        str,
        typer.Option("--master-host", help="--worker: the master's host.", rich_help_panel=RUN_PANEL),
    ] = "127.0.0.1",
    master_port: Annotated[
        int,
        typer.Option(
            "--master-port",
            help="The master's port (--master listens there, --worker connects).",
            rich_help_panel=RUN_PANEL,
        ),
    ] = MASTER_PORT,
    connect_timeout: Annotated[
        str,
        typer.Option(
            "--connect-timeout",
            help="--worker: give up when no master answers within this long.",
            rich_help_panel=RUN_PANEL,
        ),
    ] = "30s",
    csv_out: Annotated[
        bool, typer.Option("--csv", help="Print the summary as CSV (a header line and one line).")
    ] = False,
    live: Annotated[
        bool, typer.Option("--live/--no-live", help="A live table on a terminal while it runs.")
    ] = True,
) -> None:
    """Run the fleet on Locust, showing a live table (rate, latency, errors by kind), then a summary.

    Each simulated device sends on its own schedule (--interval with --jitter) until --duration or --uplinks (or Ctrl-C: every device stops and the summary is still printed, exit 130). http devices come from the devices file of `fleet provision`; lorawan devices go through the emulator's ingress, or with --to straight to an application server in the IoT Flow format. One process by default; --master and --worker use Locust's distributed mode (the master holds the fleet and splits it across the workers). Needs the extra: pip install 'iotcli[fleet]'.

    Example:
      iotcli fleet run --users 100 --interval 60s --jitter 20% --duration 5m --ramp-up 30s
    """
    state = get_state()
    if csv_out and state.out.json_mode:
        raise UsageError("fleet run: --csv and --json: pick one")
    if master and worker:
        raise UsageError("fleet run: --master and --worker: pick one")
    if not 1 <= master_port <= 65535:
        raise UsageError(f"fleet run: --master-port must be 1..65535, not {master_port}")
    if worker:
        run_as_worker(state, master_host, master_port, _duration(connect_timeout, "--connect-timeout") or 0.0)
        return
    if expect_workers < 1:
        raise UsageError(f"fleet run: --expect-workers must be at least 1, not {expect_workers}")
    limit = _duration(duration, "--duration")
    ramp = _duration(ramp_up, "--ramp-up") or 0.0
    if limit is not None and limit <= 0:
        raise UsageError("fleet run: --duration must be above 0")
    if uplinks is not None and uplinks < 1:
        raise UsageError(f"fleet run: --uplinks must be at least 1, not {uplinks}")
    wait_for = _duration(wait_workers, "--wait-workers") or 0.0
    config, count = fleet_config(
        state,
        devices_file=devices_file,
        kind=kind,
        users=users,
        interval=interval,
        jitter=jitter,
        payload=payload,
        fport=fport,
        to=to,
        connection=connection,
        downlink_url=downlink_url,
        no_downlink_url=no_downlink_url,
        headers=_headers(header or []),
    )
    require_locust()
    from iotcli.fleet.runner import run_fleet, run_master
    from iotcli.fleet.users import fleet_class

    target = config.get("to") or config["host"]
    state.out.info(
        f"fleet: {count} {config['kind']} devices against {target}, one uplink every {interval} ±{jitter}"
        + (f" (master on port {master_port}, {expect_workers} workers)" if master else "")
    )
    with state.out.live() as board:
        tick = (lambda s: board.update(live_rows(s))) if live and board.active else None
        if master:
            result = run_master(
                config,
                users=count,
                ramp_up=ramp,
                duration=limit,
                uplinks=uplinks,
                tick=tick,
                bind_host=master_bind_host,
                bind_port=master_port,
                expect_workers=expect_workers,
                wait_workers=wait_for,
                on_worker=lambda n, k: state.out.info(f"fleet: {n} of {k} workers connected"),
            )
        else:
            result = run_fleet(
                fleet_class(config), users=count, ramp_up=ramp, duration=limit, uplinks=uplinks, tick=tick
            )
    result["kind"] = config["kind"]
    show_summary(state, result, csv_out=csv_out)
    if result["interrupted"]:
        raise typer.Exit(130)


def fleet_config(
    state: CliState,
    *,
    devices_file: Path,
    kind: Kind | None,
    users: int | None,
    interval: str,
    jitter: str,
    payload: str | None,
    fport: int,
    to: str | None,
    connection: str | None,
    downlink_url: str | None,
    no_downlink_url: bool,
    headers: dict[str, str],
) -> tuple[dict[str, Any], int]:
    """The run's configuration (what a master sends its workers; ``iotcli.fleet.users.fleet_class``)
    and how many devices run, from the command line; UsageError/ConfigError for bad input."""
    from iotcli.fleet.schedule import parse_jitter
    from iotcli.fleet.template import FleetTemplate

    every = _duration(interval, "--interval") or 0.0
    if every <= 0:
        raise UsageError("fleet run: --interval must be above 0")
    try:
        spread = parse_jitter(jitter)
    except ValueError as exc:
        raise UsageError(f"fleet run: {exc}") from None
    if users is not None and users < 1:
        raise UsageError(f"fleet run: --users must be at least 1, not {users}")
    if payload is not None:
        try:
            FleetTemplate(payload)
        except ValueError as exc:
            raise UsageError(f"fleet run: --payload: {exc}") from None
    if to is None and (connection or downlink_url or no_downlink_url or headers):
        raise UsageError(
            "fleet run: --connection, --downlink-url, --no-downlink-url and --header go with --to URL"
        )
    if to is not None and kind is Kind.http:
        raise UsageError("fleet run: --to sends LoRaWAN uplinks: use --kind lorawan (or leave --kind out)")
    kind = kind or (Kind.lorawan if to else Kind.http)
    if not 1 <= fport <= 223:
        raise UsageError(f"fleet run: --fport must be 1..223, not {fport}")
    config: dict[str, Any] = {"interval": every, "jitter": spread, "payload": payload}
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
        config.update(
            kind="http",
            host=str(header.get("server") or state.server),
            devices=[
                {"device": s.device, "callback_url": s.callback_url, "token": s.token} for s in sims[:count]
            ],
        )
        return config, count
    from iotcli.fleet.devices import deveuis

    count = users or 10
    config.update(deveuis=deveuis(count), fport=fport)
    if to is None:
        config.update(kind="lorawan", host=state.server, account_token=state.require_token())
        return config, count
    from iotcli.sending.request import check_url

    check_url(to, "--to")
    if downlink_url is not None:
        check_url(downlink_url, "--downlink-url")
    link = downlink_url
    if link is None and connection:
        link = state.client().downlink_url(connection)
    elif link is None and not no_downlink_url:
        from iotcli.cli.send_plan import _discover_downlink_url

        link = _discover_downlink_url(state, to)
    config.update(kind="iotflow", host=to, to=to, downlink_url=link, headers=headers)
    return config, count


def run_as_worker(state: CliState, host: str, port: int, connect_timeout: float) -> None:
    """``fleet run --worker``: the master sends the fleet; this prints this worker's own counts."""
    if connect_timeout <= 0:
        raise UsageError("fleet run: --connect-timeout must be above 0")
    require_locust()
    from iotcli.fleet.runner import run_worker

    state.out.info(f"fleet worker: connecting to the master at {host}:{port}")

    def configured(config: dict[str, Any]) -> None:
        budget = config.get("budget")
        state.out.info(
            f"fleet worker: {config['kind']} fleet from the master"
            + (f", at most {budget} uplinks from this worker" if budget is not None else "")
        )

    result = run_worker(host, port, connect_timeout=connect_timeout, on_config=configured)
    if state.out.json_mode:
        state.out.data(result)
    else:
        state.out.info(
            f"fleet worker: {result['sent']} uplinks sent, {result['ok']} ok, {result['errors']} errors"
            " (the master's summary adds up all workers)"
        )
    if result["interrupted"]:
        raise typer.Exit(130)


def _ms(v: Any) -> str:
    return "-" if v is None else f"{v:.0f} ms"


def live_rows(s: dict[str, Any]) -> dict[str, str]:
    """The live table: one row per figure."""
    lat = s["latency_ms"]
    rows = {
        "elapsed": f"{s['elapsed_s']:.0f} s",
        "sent": str(s["sent"]),
        "ok": str(s["ok"]),
        "errors": str(s["errors"]),
        "rate (now)": f"{s.get('current_rate_per_s', 0):.1f}/s",
        "rate (average)": f"{s['rate_per_s']:.1f}/s",
        "latency p50/p95/p99": f"{_ms(lat['p50'])} / {_ms(lat['p95'])} / {_ms(lat['p99'])}",
    }
    for err_kind, n in s["errors_by_kind"].items():
        rows[f"  {err_kind}"] = str(n)
    return rows


CSV_COLUMNS = [
    "kind",
    "users",
    "workers",
    "sent",
    "ok",
    "errors",
    "unfinished",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "rate_per_s",
    "elapsed_s",
    "interrupted",
    "errors_by_kind",
]


def show_summary(state: CliState, result: dict[str, Any], *, csv_out: bool = False) -> None:
    if state.out.json_mode:
        state.out.data(result)
        return
    lat = result["latency_ms"]
    if csv_out:
        row = {
            **result,
            "workers": result.get("workers", 0),
            "p50_ms": lat["p50"],
            "p95_ms": lat["p95"],
            "p99_ms": lat["p99"],
            "errors_by_kind": ";".join(f"{k}={n}" for k, n in result["errors_by_kind"].items()),
        }
        state.out.csv([row], CSV_COLUMNS)
        return
    rows = {
        "devices": result["users"],
        "sent": result["sent"],
        "ok": result["ok"],
        "errors": result["errors"],
        "latency p50/p95/p99": f"{_ms(lat['p50'])} / {_ms(lat['p95'])} / {_ms(lat['p99'])}",
        "rate": f"{result['rate_per_s']}/s over {result['elapsed_s']} s",
    }
    if result.get("unfinished"):
        rows["unfinished"] = f"{result['unfinished']} (no answer before the stop; the server may have them)"
    if "workers" in result:
        rows["workers"] = result["workers"]
    for err_kind, n in result["errors_by_kind"].items():
        rows[f"  {err_kind}"] = n
    if result["interrupted"]:
        rows["stopped"] = "interrupted (Ctrl-C)"
    state.out.data(rows)
