"""``iotcli emulate``: run the local emulator of both platforms."""

import errno
import ipaddress
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from iotcli.cli.state import get_state
from iotcli.errors import IotcliError, UsageError

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator

SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2}


def register(app: typer.Typer) -> None:
    app.command("emulate")(emulate)


def parse_size(text: str, option: str = "--max-body") -> int:
    """'256KiB', '1m', '65536' -> bytes."""
    raw = text.strip().lower()
    num = raw.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = raw[len(num) :]
    if unit not in SIZE_UNITS or not num:
        raise UsageError(f"{option} '{text}' is not a size (examples: 65536, 256KiB, 1MiB)")
    try:
        value = int(float(num) * SIZE_UNITS[unit])
    except (ValueError, OverflowError):
        raise UsageError(f"{option} '{text}' is not a size (examples: 65536, 256KiB, 1MiB)") from None
    if value <= 0:
        raise UsageError(f"{option} must be positive")
    return value


def _parse_age(text: str) -> float:
    from iotcli.cli.emulator_cmd import parse_duration

    seconds = 0.0 if text.strip().startswith("-") else parse_duration(text)
    if seconds <= 0:
        raise UsageError(f"--journal-max-age '{text}' must be longer than 0")
    return seconds


def check_data_dir(data_dir: Path) -> None:
    """Open (and migrate) the state once before serving: a data dir that cannot be used is one clear line."""
    import sqlite3

    from iotcli.emulator.app import migrations
    from iotcli.errors import ConfigError
    from iotcli.store.db import Store, StoreLocked

    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigError(f"--data-dir {data_dir} is not a directory", hint="pick a folder (or --in-memory)")
    store = Store(data_dir / "emulator.db")
    try:
        store.open(migrations())
    except StoreLocked:
        raise IotcliError(
            f"the data dir {data_dir} is in use by another running emulator",
            hint="stop that one, or give this one its own --data-dir (or --in-memory)",
        ) from None
    except sqlite3.Error as exc:
        raise ConfigError(
            f"cannot use the emulator state {data_dir / 'emulator.db'}: {exc}",
            hint="move that file away to start afresh, or pick another --data-dir (or --in-memory)",
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"cannot use the data dir {data_dir}: {exc.strerror or exc}",
            hint="pick another --data-dir (or --in-memory)",
        ) from None
    store.close()


#: A token shorter than this is refused when the emulator listens beyond loopback (guessable).
MIN_EXPOSED_TOKEN = 16


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _certificates(folder: Path, host: str) -> Any:
    """``--tls``: the CA and server certificate in ``<folder>/tls`` (one CA to trust, kept across restarts,
    also for --in-memory, which keeps it in the default emulator dir: a CA is not state)."""
    from iotcli.emulator.tls import ensure_certificates
    from iotcli.errors import ConfigError

    try:
        return ensure_certificates(folder / "tls", host)
    except OSError as exc:
        raise ConfigError(
            f"cannot make the TLS certificate in {folder / 'tls'}: {exc.strerror or exc}",
            hint="pick another --data-dir",
        ) from None


def emulate(
    host: Annotated[str, typer.Option("--host", help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="Port for every surface (0 picks a free one).", min=0, max=65535)
    ] = 8100,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Folder of the SQLite state [default: per-user data dir]."),
    ] = None,
    in_memory: Annotated[
        bool, typer.Option("--in-memory", help="Throw-away state, nothing written to disk.")
    ] = False,
    user: Annotated[str, typer.Option("--user", help="Account user.")] = "local",
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="IOTCLI_EMULATOR_TOKEN",
            show_default=False,
            help="Account token [default: generated on first start, kept in the data dir].",
        ),
    ] = None,
    time_scale: Annotated[
        float,
        typer.Option(
            "--time-scale",
            min=0.000001,
            help="Real seconds per emulated second: 0.01 turns a 2 s retry delay into 20 ms.",
        ),
    ] = 1.0,
    max_body: Annotated[
        str, typer.Option("--max-body", help="Largest request body, e.g. 256KiB.")
    ] = "256KiB",
    journal_max_events: Annotated[
        int,
        typer.Option("--journal-max-events", min=100, help="Keep at most this many events in the journal."),
    ] = 100_000,
    journal_max_deliveries: Annotated[
        int,
        typer.Option(
            "--journal-max-deliveries",
            min=100,
            help="Keep at most this many finished deliveries (pending ones are never pruned).",
        ),
    ] = 100_000,
    journal_max_age: Annotated[
        str | None,
        typer.Option(
            "--journal-max-age",
            show_default=False,
            help="Also prune journal entries older than this (emulator time), e.g. 7d (default: no age limit).",
        ),
    ] = None,
    seed: Annotated[
        Path | None,
        typer.Option(
            "--seed", help="Apply this environment file (docs/apply.md) at start, before the banner."
        ),
    ] = None,
    detach: Annotated[
        bool,
        typer.Option(
            "--detach",
            "--background",
            help="Run in the background: wait until healthy, print the URL, return (`iotcli emulator stop`).",
        ),
    ] = False,
    log_level: Annotated[
        str, typer.Option("--log-level", help="uvicorn log level: warning, info, debug.")
    ] = "warning",
    request_timeout: Annotated[
        float,
        typer.Option(
            "--request-timeout",
            min=0.1,
            help="Seconds a client has to send a whole request (headers and body) once it starts; "
            "slower ones are cut off.",
        ),
    ] = 30.0,
    timeout_keep_alive: Annotated[
        int,
        typer.Option("--timeout-keep-alive", min=1, help="Seconds an idle keep-alive connection stays open."),
    ] = 5,
    max_header_size: Annotated[
        str,
        typer.Option(
            "--max-header-size", help="Largest request header block, e.g. 32KiB; larger ones get 400."
        ),
    ] = "32KiB",
    tls: Annotated[
        bool,
        typer.Option(
            "--tls",
            help="Serve HTTPS on the same port, with a certificate made on first start (its CA file is in "
            "the banner; the CLI on this machine trusts it by itself).",
        ),
    ] = False,
    strict_mode: Annotated[
        str,
        typer.Option(
            "--strict-mode",
            help="What strictMode does with a non-2xx answer: resend (3 resends, 2 s apart) or "
            "reconnect (close the connection, apply reconnectStrategy). See docs/http-connections.md.",
        ),
    ] = "resend",
) -> None:
    """Run the local emulator: Thinger-style HTTP devices and IoT Flow-style HTTP connections on one port.

    Examples:
      iotcli emulate                       # 127.0.0.1:8100, state in the per-user data dir
      iotcli emulate --in-memory --port 0  # throw-away state on a free port
      iotcli emulate --time-scale 0.01     # timers run 100x faster (a 10 min timeout takes 6 s)
      iotcli emulate --tls                 # https://127.0.0.1:8100, CA file named in the banner
      iotcli emulate --detach --in-memory --port 0 --seed env.toml   # for CI scripts
    """
    from iotcli.config import default_emulator_dir, remove_discovery, write_discovery
    from iotcli.emulator.server import bind_socket, serve
    from iotcli.emulator.settings import EmulatorSettings

    state = get_state()
    out = state.out
    seed_env = None
    if seed is not None:
        from iotcli.provision import load_env

        seed_env = load_env(seed)  # a bad file stops here, before anything starts
    if detach:
        from typer._click.globals import get_current_context

        from iotcli.cli.background import child_args
        from iotcli.cli.background import detach as start_detached

        info = start_detached(child_args(get_current_context(), {"detach"}), state.opts.user)
        if out.json_mode:
            out.json({"data": info})
        else:
            out.text(str(info["url"]))
            out.info(f"emulator in the background (pid {info['pid']}); `iotcli emulator stop` stops it")
        return
    seed_failed: list[BaseException] = []
    # --user/--token here name the emulator's account; the root's --user/--token (for clients) also apply.
    user = user if user != "local" else (state.opts.user or "local")
    from iotcli.emulator.http import ID_PATTERN

    if not ID_PATTERN.fullmatch(user):
        raise UsageError(f"--user '{user}' must be 1-32 letters, digits, '_' or '-'")
    if in_memory and data_dir is not None:
        raise UsageError("--in-memory and --data-dir exclude each other")
    if not _is_loopback(host) and not token:
        raise UsageError(
            f"--host {host} exposes the emulator beyond this machine: refusing to run with a generated token",
            hint="pass --token (or IOTCLI_EMULATOR_TOKEN) with a secret of your own",
        )
    if not _is_loopback(host) and len(token or "") < MIN_EXPOSED_TOKEN:
        raise UsageError(
            f"--host {host} exposes the emulator beyond this machine: the token must have at least "
            f"{MIN_EXPOSED_TOKEN} characters"
        )
    if strict_mode not in ("resend", "reconnect"):
        raise UsageError(f"--strict-mode '{strict_mode}' must be resend or reconnect")
    settings = EmulatorSettings(
        strict_mode=strict_mode,
        host=host,
        port=port,
        data_dir=None if in_memory else (data_dir or default_emulator_dir()).expanduser(),
        user=user,
        token=token,
        time_scale=time_scale,
        max_body=parse_size(max_body),
        max_events=journal_max_events,
        max_deliveries=journal_max_deliveries,
        journal_max_age=None if journal_max_age is None else _parse_age(journal_max_age),
        request_timeout=request_timeout,
        timeout_keep_alive=timeout_keep_alive,
        max_header_size=parse_size(max_header_size, "--max-header-size"),
    )
    if settings.data_dir is not None:
        check_data_dir(settings.data_dir)
    if tls:
        settings.tls = _certificates(settings.data_dir or default_emulator_dir().expanduser(), host)
    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise IotcliError(
                f"port {port} on {host} is already in use",
                hint="stop the other process, or pick another port with --port (0 = any free port)",
            ) from None
        raise IotcliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    settings.port = sock.getsockname()[1]
    if not _is_loopback(host):
        out.warn(f"listening on {host}: anyone who can reach this machine can reach the emulator")

    def ready(emu: "Emulator") -> None:
        info = {
            "url": settings.base_url,
            "user": settings.user,
            "token": emu.account_token,
            "pid": os.getpid(),
            "data_dir": str(settings.data_dir) if settings.data_dir else None,
        }
        if settings.tls is not None:
            info["ca_file"] = str(settings.tls.ca_file)
        write_discovery(settings.port, info)
        if seed_env is None:
            announce(info)
            return
        from iotcli.cli.background import seed_in_background

        def failed(exc: BaseException) -> None:
            seed_failed.append(exc)
            os.kill(os.getpid(), signal.SIGTERM)  # a clean stop; the error is reported after it

        seed_in_background(
            seed_env,
            settings.base_url,
            settings.user,
            emu.account_token,
            lambda s: announce(info, s),
            failed,
            ca_file=str(settings.tls.ca_file) if settings.tls is not None else None,
        )

    def announce(info: dict[str, Any], seeded: str | None = None) -> None:
        if out.json_mode:
            out.json({"data": {**info, "seeded": seeded} if seeded else info})
            return
        if seeded:
            out.info(seeded)
        out.text(
            f"iotcli emulator listening on {settings.base_url}\n"
            f"  user:     {settings.user}\n"
            f"  token:    {info['token']}\n"
            f"  data dir: {settings.data_dir or '(in memory)'}\n"
            f"  clock:    time scale {settings.time_scale:g}\n"
            + (
                f"  CA file:  {settings.tls.ca_file}  (clients trust it: curl --cacert FILE)\n"
                if settings.tls
                else ""
            )
            + f"  inspector: {settings.base_url}/_emulator/ui/  (iotcli emulator open)\n"
            + (
                "  strictMode: reconnect (a non-2xx answer closes a strict connection)\n"
                if settings.strict_mode == "reconnect"
                else ""
            )
            + "Commands in another terminal on this machine find this token by themselves. Ctrl-C stops."
        )
        out.stdout.flush()

    try:
        serve(settings, sock, on_ready=ready, log_level=log_level)
    except KeyboardInterrupt:
        pass
    finally:
        remove_discovery(settings.port)
        sock.close()
    if seed_failed:
        raise seed_failed[0]
    out.info("emulator stopped")
