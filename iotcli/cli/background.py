"""``iotcli emulate --detach`` / ``iotcli emulator stop``, and ``emulate --seed FILE``.

A detached emulator is the same ``iotcli emulate`` command run as a background process (its own
session, output in a log file under the data dir). The starter waits for its banner (printed once the
store is open, the seed file applied and the port healthy), records its PID, and returns.
``iotcli emulator stop`` stops the one recorded, with SIGTERM (the emulator drains and closes its
store), and waits until it is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from iotcli.errors import ExitCode, IotcliError, UsageError

if TYPE_CHECKING:
    from typer._click import Context

    from iotcli.provision import EnvFile

#: How long ``--detach`` waits for the emulator's banner.
START_TIMEOUT = 30.0
#: How long ``emulator stop`` waits for the process to end after SIGTERM.
STOP_TIMEOUT = 20.0


def records_dir() -> Path:
    from iotcli.config import data_dir

    return data_dir() / "detached"


def child_args(ctx: Context, skip: set[str]) -> list[str]:
    """The emulate command line that gives the same options (all but ``skip``), rebuilt from the parsed
    parameters (so options other modules add are passed on too)."""
    args: list[str] = []
    for param in ctx.command.params:
        name = param.name or ""
        if name in skip or not getattr(param, "opts", None) or param.param_type_name != "option":
            continue
        value = ctx.params.get(name)
        if value is None or value == param.default:
            continue
        source = ctx.get_parameter_source(name)
        if source is not None and source.name == "ENVIRONMENT":
            continue  # the child inherits the environment: a secret from it stays off the command line
        opt = param.opts[0]
        if getattr(param, "is_flag", False) and isinstance(value, bool):
            secondary = getattr(param, "secondary_opts", [])
            if value:
                args.append(opt)
            elif secondary:
                args.append(secondary[0])
            continue
        if isinstance(value, list | tuple):
            for item in value:
                args += [opt, str(item)]
            continue
        args += [opt, str(getattr(value, "value", value))]
    return args


def detach(args: list[str], env_user: str | None = None) -> dict[str, Any]:
    """Start ``iotcli emulate ARGS`` in the background; return its banner once it is healthy."""
    import httpx

    folder = records_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stamp = f"{int(time.time())}-{os.getpid()}"
    out_path, err_path = folder / f"emulator-{stamp}.out", folder / f"emulator-{stamp}.log"
    cmd = [sys.executable, "-m", "iotcli", "--json"]
    if env_user:
        cmd += ["--user", env_user]
    cmd += ["emulate", *args]
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True, close_fds=True
        )
    deadline = time.monotonic() + START_TIMEOUT
    info: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        code = proc.poll()
        info = _banner(out_path)
        if info is not None:
            break
        if code is not None:
            error = IotcliError(
                f"the emulator exited with code {code} before it was ready: {_child_error(out_path, err_path)}",
                hint=f"its log: {err_path}",
            )
            out_path.unlink(missing_ok=True)
            if code in {
                int(c) for c in ExitCode
            }:  # the child's reason: 2 usage, 4 the API refused the seed, ...
                error.exit_code = ExitCode(code)
            raise error
        time.sleep(0.05)
    if info is None:
        _terminate(proc.pid)
        raise IotcliError(
            f"the emulator did not start within {START_TIMEOUT:g}s", hint=f"its log: {err_path}"
        )
    url = str(info["url"])
    try:
        ca = info.get("ca_file")  # a --tls child: its own CA, verified like any client of it would
        verify = ssl.create_default_context(cafile=str(ca)) if isinstance(ca, str) else True
        httpx.get(f"{url}/_emulator/health", timeout=5, verify=verify).raise_for_status()
    except httpx.HTTPError as exc:
        _terminate(proc.pid)
        raise IotcliError(
            f"the emulator at {url} is not healthy: {exc}", hint=f"its log: {err_path}"
        ) from None
    port = urlsplit(url).port
    record = {**info, "pid": proc.pid, "port": port, "log": str(err_path), "started": time.time()}
    _write(folder / f"{port}.json", record)
    out_path.unlink(missing_ok=True)
    return {**info, "pid": proc.pid, "log": str(err_path)}


def _banner(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    data = doc.get("data") if isinstance(doc, dict) else None
    return data if isinstance(data, dict) and "url" in data else None


def _child_error(out_path: Path, err_path: Path) -> str:
    """What the child said when it failed: its ``{"error": ...}`` (it runs with --json), else its last log line."""
    with contextlib.suppress(OSError, ValueError):
        doc = json.loads(out_path.read_text())
        if isinstance(doc, dict) and isinstance(doc.get("error"), dict):
            return str(doc["error"].get("message"))
    with contextlib.suppress(OSError):
        lines = [ln.strip() for ln in err_path.read_text(errors="replace").splitlines() if ln.strip()]
        if lines:
            return lines[-1]
    return "no output"


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def recorded() -> list[dict[str, Any]]:
    """The detached emulators recorded (whether or not they still run)."""
    found = []
    folder = records_dir()
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(path.read_text())
            if isinstance(data, dict) and isinstance(data.get("pid"), int):
                found.append({**data, "record": str(path)})
    return found


def alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError, OSError):
        done, _status = os.waitpid(pid, os.WNOHANG)  # our own child (tests): reap it once it ended
        if done == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_emulator(pid: int) -> bool:
    """The recorded PID still is an iotcli emulator (not a process that got the number since)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return alive(pid)  # no /proc (macOS): trust the record
    return b"iotcli" in b" ".join(cmdline) and b"emulate" in cmdline


def _terminate(pid: int, timeout: float = STOP_TIMEOUT) -> bool:
    """SIGTERM, then wait; SIGKILL if it does not end in time. True when it ended by itself."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return False


def stop(server: str | None) -> dict[str, Any]:
    """Stop the detached emulator (the one serving ``server``'s port when several are recorded)."""
    records = recorded()
    if server is not None and len(records) > 1:
        port = urlsplit(server).port
        records = [r for r in records if r.get("port") == port]
    if not records:
        raise UsageError(
            "no emulator started with `iotcli emulate --detach` is recorded on this machine",
            hint="start one with `iotcli emulate --detach`; a foreground one stops with Ctrl-C",
        )
    if len(records) > 1:
        urls = ", ".join(str(r.get("url")) for r in records)
        raise UsageError(f"several detached emulators run ({urls})", hint="name one with --server URL")
    record = records[0]
    pid = int(record["pid"])
    path = Path(record["record"])
    if not alive(pid) or not _is_emulator(pid):
        path.unlink(missing_ok=True)
        return {**_public(record), "status": "not running"}
    clean = _terminate(pid)
    path.unlink(missing_ok=True)
    if clean and record.get("log"):
        Path(str(record["log"])).unlink(missing_ok=True)
    return {**_public(record), "status": "stopped" if clean else "killed"}


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record.get(k) for k in ("url", "pid", "log")}


# -- --seed FILE ---------------------------------------------------------------------------------


def seed_in_background(
    env: EnvFile,
    url: str,
    user: str,
    token: str,
    then: Callable[[str], None],
    failed: Callable[[BaseException], None],
    ca_file: str | None = None,
) -> None:
    """Apply ``env`` to the emulator at ``url`` once it accepts requests (the app's start-up must
    finish first, so this runs in a thread), then call ``then`` with a summary; ``failed`` on error."""

    def run() -> None:
        import httpx

        from iotcli.client.api import ApiClient
        from iotcli.provision import apply_env

        try:
            verify = ssl.create_default_context(cafile=ca_file) if ca_file else True
            with httpx.Client(base_url=url, timeout=10, verify=verify, trust_env=False) as http:
                deadline = time.monotonic() + START_TIMEOUT
                while True:
                    try:
                        http.get("/_emulator/health").raise_for_status()
                        break
                    except httpx.HTTPError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.02)
                plan, _tokens = apply_env(ApiClient(http, user=user, token=token), env)
            s = plan.summary()
            then(
                f"seeded from {env.path}: {s['create']} created, {s['update']} updated, {s['unchanged']} unchanged"
            )
        except BaseException as exc:  # noqa: BLE001 - reported by the emulate command
            failed(exc)

    threading.Thread(target=run, name="seed", daemon=True).start()
