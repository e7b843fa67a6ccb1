"""``fleet run``: its options, their checks, the run's configuration (what a master sends its workers)
and the wiring of the one-process, master and worker modes. The command itself (its help) is in
``iotcli.cli.fleet``; the live table and the summary are printed by ``iotcli.cli.fleet_report``.
"""

import importlib.util
from pathlib import Path
from typing import Any

import typer

from iotcli.cli.fleet_options import Kind
from iotcli.cli.fleet_report import live_rows, show_summary
from iotcli.cli.state import CliState
from iotcli.errors import ConfigError, UsageError

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


def _headers(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"fleet run: --header '{item[:64]}' must be NAME:VALUE")
        out[name.strip()] = value.strip()
    return out


def start(
    state: CliState,
    *,
    devices_file: Path,
    kind: Kind | None,
    users: int | None,
    interval: str,
    jitter: str,
    duration: str | None,
    uplinks: int | None,
    ramp_up: str,
    payload: str | None,
    fport: int,
    to: str | None,
    connection: str | None,
    downlink_url: str | None,
    no_downlink_url: bool,
    header: list[str] | None,
    master: bool,
    expect_workers: int,
    wait_workers: str,
    master_bind_host: str,
    worker: bool,
    master_host: str,
    master_port: int,
    connect_timeout: str,
    csv_out: bool,
    live: bool,
) -> None:
    """``fleet run`` with its command-line values: checks them, then runs here, as master or as worker."""
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
    from iotcli.fleet.distributed import run_master
    from iotcli.fleet.runner import run_fleet
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
        host = str(header.get("server") or state.server)
        config.update(
            kind="http",
            host=host,
            ca_pem=_ca_pem(state, host),
            devices=[
                {"device": s.device, "callback_url": s.callback_url, "token": s.token} for s in sims[:count]
            ],
        )
        return config, count
    from iotcli.fleet.devices import deveuis

    count = users or 10
    config.update(deveuis=deveuis(count), fport=fport)
    if to is None:
        config.update(
            kind="lorawan",
            host=state.server,
            account_token=state.require_token(),
            ca_pem=_ca_pem(state, state.server),
        )
        return config, count
    from iotcli.sending.request import check_url

    check_url(to, "--to")
    if downlink_url is not None:
        check_url(downlink_url, "--downlink-url")
    link = downlink_url
    if link is None and connection:
        link = state.client().downlink_url(connection)
    elif link is None and not no_downlink_url:
        from iotcli.cli.send_plan import discover_downlink_url

        link = discover_downlink_url(state, to)
    config.update(
        kind="iotflow", host=to, to=to, downlink_url=link, headers=headers, ca_pem=_ca_pem(state, to)
    )
    return config, count


def _ca_pem(state: CliState, url: str) -> str | None:
    """The CA (PEM text) an https target must chain to, as for send-uplink (``CliState.ca_file_for``);
    None: plain http or the system's CAs. The text, not the path, goes in the configuration: a master
    sends it to workers on other machines, where the path may not exist."""
    ca = state.ca_file_for(url)
    if not ca:
        return None
    try:
        return Path(ca).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"fleet run: cannot read the CA file {ca} ({getattr(exc, 'strerror', None) or exc})",
            hint="check --ca-file / IOTCLI_CA_FILE / the profile",
        ) from None


def run_as_worker(state: CliState, host: str, port: int, connect_timeout: float) -> None:
    """``fleet run --worker``: the master sends the fleet; this prints this worker's own counts."""
    if connect_timeout <= 0:
        raise UsageError("fleet run: --connect-timeout must be above 0")
    require_locust()
    from iotcli.fleet.distributed import run_worker

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
