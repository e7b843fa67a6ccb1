"""send-uplink speed: one `iotcli send-uplink` vs one curl and one HTTPie request, and uplinks/s with --repeat.

Targets: a single send takes at most half of HTTPie's time; `--repeat 5000 --concurrency 32` reaches at least
1,500 uplinks/s. Everything runs against a local sink (a minimal asyncio HTTP/1.1 server in a subprocess that
answers 200 with a small JSON body), so the numbers measure the senders, not a server. `--emulator` adds the
same repeat against a real `iotcli emulate` HTTP device (bucket write per uplink).

HTTPie is not an iotcli dependency; for the comparison install it into this venv (`pip install httpie`),
otherwise its row says it was skipped.

    python benchmarks/send.py [--runs 15] [--repeat 5000] [--concurrency 32] [--emulator]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from iotcli.testing import free_port, wait_healthy

BODY = '{"temperature": 21.5, "humidity": 48}'
ANSWER = b'{"led":"on"}'
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
    len(ANSWER),
    ANSWER,
)


# --- the sink ------------------------------------------------------------------------------------


class SinkProtocol(asyncio.Protocol):
    """HTTP/1.1 keep-alive: answer every request (headers + Content-Length body) with RESPONSE."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            length = 0
            pos = head.find(b"content-length:")
            if pos >= 0:
                length = int(head[pos + 15 :].split(b"\r\n", 1)[0])
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            self.transport.write(RESPONSE)  # type: ignore[attr-defined]


def serve(port: int) -> None:
    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(SinkProtocol, "127.0.0.1", port)
        print("ready", flush=True)
        await server.serve_forever()

    asyncio.run(main())


def start_sink() -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc, f"http://127.0.0.1:{port}/v3/users/local/devices/bench/callback/data"


# --- measuring -----------------------------------------------------------------------------------


def tool(name: str) -> str | None:
    """A console script next to this Python (the venv) first, then PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else shutil.which(name)


def median_ms(cmd: list[str], runs: int, env: dict[str, str]) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system) of one run of ``cmd``, in ms."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
        walls.append((time.perf_counter() - t0) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
    return statistics.median(walls), statistics.median(cpus)


def repeat_run(
    iotcli: list[str], url: str, n: int, c: int, env: dict[str, str], extra: list[str]
) -> tuple[float, float, dict]:
    cmd = [
        *iotcli,
        "send-uplink",
        "--url",
        url,
        "--data",
        '{"n": {{i}}, "t": {{random:18:25}}}',
        "--repeat",
        str(n),
        "--concurrency",
        str(c),
        "--json",
        *extra,
    ]
    t0 = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if run.returncode != 0:
        raise SystemExit(f"send-uplink --repeat failed ({run.returncode}): {run.stderr or run.stdout}")
    data = json.loads(run.stdout)["data"]
    return n / wall, float(data["rate_per_s"]), data


def emulator_target(env: dict[str, str], iotcli: list[str]) -> tuple[subprocess.Popen[str], str, str]:
    port = free_port()
    token = "bench-token-0123456789"
    proc = subprocess.Popen(
        [*iotcli, "emulate", "--in-memory", "--port", str(port), "--token", token],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    wait_healthy(f"{base}/_emulator/health", proc)
    cli_env = {**env, "IOTCLI_SERVER": base, "IOTCLI_TOKEN": token}
    subprocess.run(
        [*iotcli, "device", "create", "bench", "--bucket", "bench"],
        check=True,
        env=cli_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, f"{base}/v3/users/local/devices/bench/callback/data", token


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--emulator", action="store_true", help="also --repeat against a real emulator device"
    )
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return

    tmp = tempfile.mkdtemp(prefix="iotcli-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOTCLI_")}
    env.update(IOTCLI_CONFIG_DIR=f"{tmp}/config", IOTCLI_DATA_DIR=f"{tmp}/data")
    iotcli_exe = tool("iotcli")
    iotcli = [iotcli_exe] if iotcli_exe else [sys.executable, "-m", "iotcli"]
    sink, url = start_sink()
    try:
        print(f"sink: {url}   runs: {args.runs} (median wall time per command, start-up included)")
        single = median_ms([*iotcli, "send-uplink", "--url", url, "--data", BODY], args.runs, env)
        curl_exe = shutil.which("curl")
        curl = (
            median_ms(
                [
                    curl_exe,
                    "-sS",
                    "-X",
                    "POST",
                    url,
                    "-H",
                    "Content-Type: application/json",
                    "--data-raw",
                    BODY,
                ],
                args.runs,
                env,
            )
            if curl_exe
            else None
        )
        http_exe = tool("http")
        httpie = (
            median_ms(
                [http_exe, "--ignore-stdin", "POST", url, "temperature:=21.5", "humidity:=48"], args.runs, env
            )
            if http_exe
            else None
        )
        print(f"{'':20} {'wall':>8}    {'CPU':>8}")
        print(f"iotcli send-uplink   {single[0]:8.1f} ms {single[1]:8.1f} ms")
        if curl is not None:
            print(f"curl                 {curl[0]:8.1f} ms {curl[1]:8.1f} ms")
        else:
            print("curl                 (not installed)")
        if httpie is None:
            print("httpie               (not installed: pip install httpie into this venv to compare)")
        else:
            verdict = "ok" if single[0] <= httpie[0] / 2 else "MISSED"
            print(
                f"httpie               {httpie[0]:8.1f} ms {httpie[1]:8.1f} ms   "
                f"target: iotcli wall <= httpie/2 = {httpie[0] / 2:.1f} ms: {verdict}"
            )
        uptime = os.getloadavg()[0]
        print(
            f"(load average {uptime:.1f} on {os.cpu_count()} CPUs: wall times grow with load, CPU times less)"
        )

        wall_rate, inner_rate, data = repeat_run(iotcli, url, args.repeat, args.concurrency, env, [])
        lat = data["latency_ms"]
        verdict = "ok" if wall_rate >= 1500 else "MISSED"
        print(
            f"--repeat {args.repeat} --concurrency {args.concurrency} (sink): {wall_rate:,.0f} uplinks/s wall "
            f"(start-up included), {inner_rate:,.0f}/s while sending; ok {data['ok']}/{data['sent']}; "
            f"p50 {lat['p50']} ms p99 {lat['p99']} ms   target >= 1,500/s: {verdict}"
        )
    finally:
        sink.terminate()
        sink.wait()

    if args.emulator:
        emu, emu_url, token = emulator_target(env, iotcli)
        try:
            wall_rate, inner_rate, data = repeat_run(
                iotcli, emu_url, args.repeat, args.concurrency, env, ["--token", token]
            )
            print(
                f"--repeat {args.repeat} --concurrency {args.concurrency} (emulator device, bucket write each): "
                f"{wall_rate:,.0f} uplinks/s wall, {inner_rate:,.0f}/s while sending; ok {data['ok']}/{data['sent']}"
            )
        finally:
            emu.terminate()
            emu.wait()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
