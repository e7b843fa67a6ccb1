"""CLI start-up time against its floors, medians side by side in one run.

Targets (issue 17):
- every management command (``device list``, ``bucket read``, ``connection list``, ...) at most 1.3x
  ``python -c "import typer, httpx, rich.console"`` (the chosen stack's own import time);
- ``iotcli --help`` at most 1.3x ``python -c "import typer"``;
- one ``send-uplink`` at most 100 ms, with no httpx import on its path (the last lines say how much of
  the 100 ms is left once typer is imported, and how much the command's own work takes). That line
  counts from the ``typer frozen`` floor: typer imported as iotcli's ``main()`` starts (no collection
  during start-up, then ``gc.freeze()``), which also spares the process typer's teardown at exit.

Bytecode is written and used (PYTHONDONTWRITEBYTECODE is dropped for the children), as for an
installed CLI. Each figure is a median of wall times; the cpu column (the child's user + system time)
is steadier on a busy machine. The commands talk to a small local HTTP server started here (it answers ``[]`` / ``{}``), so each run
does its whole job: parse, request, print. Commands and floors are timed in turn, round after round,
so that a machine whose speed drifts affects them alike. The config and data folders are those of a user
with nothing configured (XDG_CONFIG_HOME and XDG_DATA_HOME point at an empty temporary folder), so the
commands look them up as they do for people.

``--vs DIR`` also times every command from another checkout (``git archive <rev> | tar -x -C DIR``),
in the same rounds, and prints its medians beside these: before and after in one sitting.

    python benchmarks/cli_startup.py [--runs 15] [--vs DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = b"[]" if self.command == "GET" else b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


def time_once(cmd: list[str], env: dict[str, str], cwd: str | None = None) -> tuple[float, float]:
    """Wall time and CPU time (user + system of the child) in ms. On a busy machine the wall time
    includes waiting for a core; the CPU time is what the command itself costs. ``python -m iotcli``
    runs the iotcli of ``cwd`` (the first entry of its path)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd, check=False)
    wall = (time.perf_counter() - t0) * 1000
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) * 1000
    return wall, cpu


def imports_of(py: str, argv: list[str], env: dict[str, str]) -> set[str]:
    """Which of httpx, pydantic, rich a command imports (run in a child with the same argv)."""
    probe = (
        "import sys, runpy\n"
        f"sys.argv = {['iotcli', *argv]!r}\n"
        "try:\n    runpy.run_module('iotcli', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "sys.stderr.write('\\nIMPORTS ' + ' '.join(m for m in ('httpx', 'pydantic', 'rich') if m in sys.modules))\n"
    )
    r = subprocess.run([py, "-c", probe], capture_output=True, text=True, env=env, check=False)
    line = r.stderr.rsplit("IMPORTS", 1)[-1]
    return set(line.split())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--vs", metavar="DIR", help="also time the iotcli checked out in DIR (before/after)")
    args = parser.parse_args()
    py = sys.executable
    home = tempfile.mkdtemp(prefix="iotcli-bench-home-")

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    # An installed CLI runs from bytecode (pip compiles it); with PYTHONDONTWRITEBYTECODE set, every run of
    # a checkout would compile iotcli's sources again (~30 ms): let the warm-up write the .pyc files.
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("IOTCLI_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(IOTCLI_SERVER=url, IOTCLI_TOKEN="bench-token", XDG_CONFIG_HOME=home, XDG_DATA_HOME=home)

    floors = {
        "pass": [py, "-c", "pass"],
        "typer": [py, "-c", "import typer"],
        # typer imported the way iotcli's main() starts (no collection during start-up, then frozen):
        # the floor under send-uplink's own work, since the process no longer pays typer's teardown.
        "typer frozen": [py, "-c", "import gc; gc.disable(); import typer; gc.freeze(); gc.enable()"],
        "stack": [py, "-c", "import typer, httpx, rich.console"],
    }
    iotcli = [py, "-m", "iotcli"]
    commands: dict[str, tuple[list[str], str]] = {
        "iotcli --version": (["--version"], "pass"),
        "iotcli --help": (["--help"], "typer"),
        "iotcli device list": (["device", "list"], "stack"),
        "iotcli device show d1 --json": (["device", "show", "d1", "--json"], "stack"),
        "iotcli bucket read readings": (["bucket", "read", "readings"], "stack"),
        "iotcli connection list": (["connection", "list"], "stack"),
        "iotcli deliveries list": (["deliveries", "list"], "stack"),
        "iotcli config show": (["config", "show"], "stack"),
        "iotcli send-uplink (one)": (["send-uplink", "--url", url + "/up", "temp:=21.5"], "send"),
    }
    everything = {**floors, **{name: iotcli + argv for name, (argv, _f) in commands.items()}}
    where: dict[str, str | None] = dict.fromkeys(everything)
    if args.vs:
        for name, (argv, _f) in commands.items():
            everything[f"{name} @vs"] = iotcli + argv
            where[f"{name} @vs"] = args.vs
    samples: dict[str, list[float]] = {name: [] for name in everything}
    cpu_samples: dict[str, list[float]] = {name: [] for name in everything}
    for name, cmd in everything.items():  # warm the file cache and the .pyc files
        time_once(cmd, env, where[name])
    for _ in range(args.runs):
        for name, cmd in everything.items():
            wall, cpu = time_once(cmd, env, where[name])
            samples[name].append(wall)
            cpu_samples[name].append(cpu)
    server.shutdown()

    med = {name: statistics.median(values) for name, values in samples.items()}
    cpu_med = {name: statistics.median(values) for name, values in cpu_samples.items()}
    print(f"medians of {args.runs} runs each, interleaved (ms; cpu = user + system time of the child)")
    for name in floors:
        print(
            f"  floor {name:<28} {med[name]:8.1f}   cpu {cpu_med[name]:6.1f}   ({' '.join(floors[name][1:])})"
        )
    print()
    print(f"  {'command':<34} {'median':>8}  {'floor':>8}  {'ratio':>6}  {'cpu':>6}  target")
    results = {}
    for name, (_argv, floor) in commands.items():
        if floor == "send":
            ok = med[name] <= 100
            line = (
                f"  {name:<34} {med[name]:8.1f}  {'100 ms':>8}  {'':>6}  {cpu_med[name]:6.1f}  "
                f"<= 100 ms: {'ok' if ok else 'MISSED'}"
            )
        else:
            ratio = med[name] / med[floor]
            limit = 1.3 if floor != "pass" else None
            verdict = "" if limit is None else f"<= {limit}x {floor}: {'ok' if ratio <= limit else 'MISSED'}"
            line = f"  {name:<34} {med[name]:8.1f}  {med[floor]:8.1f}  {ratio:5.2f}x  {cpu_med[name]:6.1f}  {verdict}"
        if args.vs:
            line += f"   (vs: {med[name + ' @vs']:.1f}, cpu {cpu_med[name + ' @vs']:.1f})"
        print(line)
        results[name] = med[name]
    # What is left of send-uplink's 100 ms once Python has started and typer is imported (the floor
    # under any typer command, imported as iotcli's main() imports it), and how much the command's own
    # work takes.
    send = "iotcli send-uplink (one)"
    base = "typer frozen"
    print(
        f"\n  send-uplink: 100 ms - floor {base} {med[base]:.1f} = {100 - med[base]:.1f} ms for parsing, "
        f"planning and sending; it takes {med[send] - med[base]:.1f} ms "
        f"(cpu: {cpu_med[send] - cpu_med[base]:.1f} ms over the floor's {cpu_med[base]:.1f})"
    )
    if args.vs:
        vs = send + " @vs"
        print(
            f"  vs {args.vs}: send-uplink takes {med[vs] - med['typer']:.1f} ms over typer "
            f"(cpu: {cpu_med[vs] - cpu_med['typer']:.1f} ms), {med[vs] - med[base]:.1f} ms over {base}"
        )
    send_argv = commands[send][0]
    loaded = imports_of(py, send_argv, env)
    print(f"\n  send-uplink imports: {', '.join(sorted(loaded)) or 'none of httpx, pydantic, rich'}")
    print(f"  device list imports: {', '.join(sorted(imports_of(py, ['device', 'list'], env))) or '-'}")
    shutil.rmtree(home, ignore_errors=True)
    if os.environ.get("CLI_STARTUP_JSON"):
        print(json.dumps({"medians_ms": med}))


if __name__ == "__main__":
    main()
