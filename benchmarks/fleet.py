"""Fleet scale: 10,000 simulated HTTP devices against the emulator, and one fleet worker's top rate.

1. The emulator at fleet scale: a real ``iotcli emulate`` with its state in a SQLite file (the default),
   ``iotcli fleet provision --count 10000 --bucket fleet --with-token`` (timed), then ``iotcli fleet run``
   with one uplink a minute per device (``--interval 60s --jitter 20%``; the first uplink of each device
   comes anywhere in the first minute, so about 167 uplinks/s) for ``--duration`` seconds. Targets: 0
   errors, 0 records lost (the bucket holds every uplink the summary counts as ok), p99 under 50 ms.
2. One fleet worker process at its top rate: ``fleet run --master`` with one ``fleet run --worker``,
   ``--users`` devices sending back to back (``--interval 1ms``) to a local sink (the minimal asyncio
   server of benchmarks/send.py, in its own process) for ``--sink-seconds``; next to it
   ``send-uplink --repeat --concurrency 32`` on the same sink.

Everything is printed side by side at the end. A quick run: ``--duration 10 --devices 2000``.

    .venv/bin/python benchmarks/fleet.py [--devices 10000] [--duration 60] [--users 200] [--sink-seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from iotcli.testing import free_port, wait_healthy

try:
    from benchmarks.send import start_sink
except ModuleNotFoundError:  # run as a script: benchmarks/ is sys.path[0]
    from send import start_sink  # type: ignore[no-redef]

TOKEN = "bench-token-0123456789"
PAYLOAD = '{"device": "{{device}}", "n": {{counter}}, "temperature": {{walk:temperature:18:25}}}'


def iotcli_cmd() -> list[str]:
    local = Path(sys.executable).parent / "iotcli"
    return [str(local)] if local.exists() else [sys.executable, "-m", "iotcli"]


def run_json(cmd: list[str], env: dict[str, str], cwd: str, timeout: float) -> dict[str, Any]:
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
    if out.returncode not in (0, 130):
        raise SystemExit(
            f"{' '.join(cmd[1:4])} failed ({out.returncode}): {out.stderr[-2000:] or out.stdout}"
        )
    return json.loads(out.stdout)["data"]  # type: ignore[no-any-return]


def start_emulator(env: dict[str, str], data_dir: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [*iotcli_cmd(), "emulate", "--data-dir", data_dir, "--port", str(port), "--token", TOKEN],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(f"{base}/_emulator/health", proc, timeout=60)  # up to a minute on a busy machine
    except RuntimeError as exc:
        if proc.poll() is None:
            proc.kill()
        raise SystemExit(f"the emulator did not start: {exc}") from None
    return proc, base


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process so far (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def stored_records(base: str, bucket: str) -> int:
    """Records in the bucket: the sum of a per-day count of the field every payload has (``n``)."""
    url = f"{base}/v1/users/local/buckets/{bucket}/data?agg=1d&agg_type=count&items=1000"
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        rows = json.loads(resp.read())
    total = 0
    for row in rows:  # {"count": {field: n}, "ts": interval start}
        total += int((row.get("count") or {}).get("n") or 0)
    return total


def emulator_scale(env: dict[str, str], tmp: str, devices: int, duration: float) -> dict[str, Any]:
    emu, base = start_emulator(env, f"{tmp}/emulator")
    cli_env = {**env, "IOTCLI_SERVER": base, "IOTCLI_TOKEN": TOKEN}
    try:
        t0 = time.perf_counter()
        prov = run_json(
            [
                *iotcli_cmd(),
                "--json",
                "fleet",
                "provision",
                "--count",
                str(devices),
                "--bucket",
                "fleet",
                "--with-token",
            ],
            cli_env,
            tmp,
            timeout=1800,
        )
        provision_s = time.perf_counter() - t0
        print(f"provisioned {prov['created']} devices in {provision_s:.1f} s", flush=True)
        emu_before = cpu_seconds(emu.pid)
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t_run = time.perf_counter()
        result = run_json(
            [
                *iotcli_cmd(),
                "--json",
                "fleet",
                "run",
                "--interval",
                "60s",
                "--jitter",
                "20%",
                "--duration",
                f"{duration:g}s",
                "--payload",
                PAYLOAD,
            ],
            cli_env,
            tmp,
            timeout=duration + 300,
        )
        run_wall = time.perf_counter() - t_run
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        emu_after = cpu_seconds(emu.pid)
        time.sleep(0.5)
        stored = stored_records(base, "fleet")
    finally:
        emu.terminate()
        emu.wait(timeout=30)
    result["fleet_cpu_s"] = round(
        children.ru_utime - children_before.ru_utime + children.ru_stime - children_before.ru_stime, 1
    )
    result["emulator_cpu_s"] = (
        round(emu_after - emu_before, 1) if emu_after is not None and emu_before is not None else None
    )
    result["run_wall_s"] = round(run_wall, 1)
    result["provision_s"] = round(provision_s, 1)
    result["stored"] = stored
    # Lost: answered ok but not in the bucket. Uplinks still unanswered when the run stopped (its 10 s
    # stop_timeout ran out) are not in the summary, yet the emulator may store them: "unfinished".
    result["lost"] = max(0, result["ok"] - stored)
    return result


def sink_devices_file(path: Path, url: str, count: int) -> None:
    server = url.split("/v3/", 1)[0]
    devices = [{"device": f"bench-{i:05d}", "callback_url": url, "token": "bench"} for i in range(count)]
    path.write_text(json.dumps({"server": server, "devices": devices}))


def worker_top_rate(env: dict[str, str], tmp: str, users: int, seconds: float) -> dict[str, Any]:
    sink, url = start_sink()
    try:
        files = Path(tmp) / "sink-devices.json"
        sink_devices_file(files, url, users)
        port = str(free_port())
        master = subprocess.Popen(
            [
                *iotcli_cmd(),
                "--json",
                "fleet",
                "run",
                "--devices-file",
                str(files),
                "--master",
                "--master-bind-host",
                "127.0.0.1",
                "--master-port",
                port,
                "--interval",
                "1ms",
                "--duration",
                f"{seconds:g}s",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tmp,
        )
        worker = subprocess.Popen(
            [*iotcli_cmd(), "fleet", "run", "--worker", "--master-port", port],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=tmp,
        )
        out, err = master.communicate(timeout=seconds + 120)
        worker.wait(timeout=60)
        if master.returncode != 0:
            raise SystemExit(f"fleet run --master failed ({master.returncode}): {err[-2000:]}")
        fleet = json.loads(out)["data"]
        repeat = max(2000, int(fleet["rate_per_s"] * 5))
        t0 = time.perf_counter()
        send = run_json(
            [
                *iotcli_cmd(),
                "send-uplink",
                "--url",
                url,
                "--data",
                '{"n": {{i}}, "t": {{random:18:25}}}',
                "--repeat",
                str(repeat),
                "--concurrency",
                "32",
                "--json",
            ],
            env,
            tmp,
            timeout=600,
        )
        send["wall_rate_per_s"] = round(repeat / (time.perf_counter() - t0), 1)
    finally:
        sink.terminate()
        sink.wait(timeout=10)
    return {"fleet": fleet, "send": send}


def ms(v: Any) -> str:
    return "-" if v is None else f"{v:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--devices", type=int, default=10_000, help="simulated devices against the emulator")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of the emulator run")
    parser.add_argument("--users", type=int, default=200, help="devices of the worker top-rate run")
    parser.add_argument("--sink-seconds", type=float, default=10.0, help="seconds of the top-rate run")
    parser.add_argument("--skip-emulator", action="store_true", help="only the top-rate run")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="iotcli-bench-fleet-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOTCLI_")}
    env.update(IOTCLI_CONFIG_DIR=f"{tmp}/config", IOTCLI_DATA_DIR=f"{tmp}/data")
    try:
        scale = None if args.skip_emulator else emulator_scale(env, tmp, args.devices, args.duration)
        top = worker_top_rate(env, tmp, args.users, args.sink_seconds)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    if scale is not None:
        lat = scale["latency_ms"]
        ok = (
            scale["errors"] == 0
            and scale["lost"] == 0
            and not scale.get("unfinished")
            and (lat["p99"] or 0) < 50
        )
        print(
            f"1. {args.devices} HTTP devices, one uplink a minute each, {args.duration:g} s, emulator (SQLite file)"
        )
        print(f"   provision --count {args.devices} --with-token : {scale['provision_s']} s")
        print(
            f"   sent {scale['sent']}  ok {scale['ok']}  errors {scale['errors']}  unfinished {scale.get('unfinished', 0)}"
            f"  stored {scale['stored']}  lost {scale['lost']}  rate {scale['rate_per_s']}/s"
        )
        print(
            f"   latency p50 {ms(lat['p50'])}  p95 {ms(lat['p95'])}  p99 {ms(lat['p99'])}"
            f"   target: 0 errors, 0 lost, p99 < 50 ms -> {'met' if ok else 'NOT met'}"
        )
        wall, emu_cpu = scale["run_wall_s"], scale["emulator_cpu_s"]
        per = f" ({1000 * emu_cpu / max(scale['sent'], 1):.2f} ms per uplink)" if emu_cpu is not None else ""
        print(
            f"   CPU over the {wall} s of the run: emulator {emu_cpu} s{per}, fleet process {scale['fleet_cpu_s']} s"
            f"; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )
    fleet, send = top["fleet"], top["send"]
    flat = fleet["latency_ms"]
    print(f"2. against a local sink ({args.sink_seconds:g} s)")
    print(f"   {'':34} {'uplinks/s':>10} {'errors':>7} {'p50':>7} {'p99':>7}")
    print(
        f"   {'fleet worker, ' + str(args.users) + ' devices back to back':34} {fleet['rate_per_s']:>10}"
        f" {fleet['errors']:>7} {ms(flat['p50']):>7} {ms(flat['p99']):>7}"
    )
    print(
        f"   {'send-uplink --repeat --concurrency 32':34} {send.get('rate_per_s', '-'):>10}"
        f" {send.get('errors', send.get('failed', '-')):>7}"
        f"   (with start-up: {send['wall_rate_per_s']}/s)"
    )


if __name__ == "__main__":
    main()
