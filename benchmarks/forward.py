"""Uplinks per second from the emulator's ingress to a local destination, and how many were lost.

Starts a real ``iotcli emulate --in-memory`` (with ``--data-dir``: its state in a SQLite file, as
``iotcli emulate`` keeps it by default) on a free loopback port, a destination (sink) that answers 200
in a separate process, one HTTP connection pointing at the sink, then sends uplinks to
``POST /_emulator/lorawan/uplinks`` from ``--concurrency`` keep-alive connections for ``--seconds``.

Reports: accepted uplinks/s at the ingress, ingress latency (p50/p99: the answer does not wait for the
destination), forwarded uplinks/s end to end (first send to last arrival at the sink), and the lost
count (accepted but never received by the sink). Target: >= 2,000 uplinks/s, 0 lost.

    .venv/bin/python benchmarks/forward.py --seconds 10 --concurrency 32 [--data-dir]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing.sharedctypes import Synchronized
from typing import Any

import httpx

from iotcli.testing import free_port, wait_healthy

TOKEN = "bench-token-0123456789abcdef"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


# -- the destination: a minimal keep-alive HTTP/1.1 server in its own process ------------------------


def run_sink(port: int, counter: Synchronized, ready: Any) -> None:  # type: ignore[type-arg]
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:].strip())
                if length:
                    await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")
                with counter.get_lock():
                    counter.value += 1
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# -- the load: raw keep-alive HTTP/1.1 clients, so the client is not what is measured ---------------


async def send_uplinks(port: int, concurrency: int, seconds: float) -> tuple[int, int, list[float], float]:
    deadline = time.perf_counter() + seconds
    accepted = 0
    errors = 0
    latencies: list[float] = []

    async def worker(n: int) -> None:
        nonlocal accepted, errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = 0
        while time.perf_counter() < deadline:
            deveui = f"{n:08X}{i:08X}"[-16:]
            body = json.dumps({"DevEUI": deveui, "FPort": 1, "payload_hex": "0102030405"}).encode()
            request = (
                f"POST /_emulator/lorawan/uplinks HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode() + body
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:].strip())
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if head.startswith(b"HTTP/1.1 202"):
                accepted += 1
            else:
                errors += 1
            i += 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return accepted, errors, latencies, started


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to send (default 10)")
    parser.add_argument("--concurrency", type=int, default=32, help="parallel senders (default 32)")
    parser.add_argument("--drain", type=float, default=60.0, help="seconds to wait for the last deliveries")
    parser.add_argument(
        "--data-dir",
        action="store_true",
        help="keep the emulator's state in a SQLite file (a temporary data dir), as `iotcli emulate` does by default",
    )
    args = parser.parse_args()

    emu_port, sink_port = free_port(), free_port()
    counter: Synchronized = multiprocessing.Value("q", 0)  # type: ignore[type-arg]
    ready = multiprocessing.Event()
    sink = multiprocessing.Process(target=run_sink, args=(sink_port, counter, ready), daemon=True)
    sink.start()
    ready.wait(10)
    env = {**os.environ, "IOTCLI_EMULATOR_TOKEN": TOKEN}
    data_dir = tempfile.mkdtemp(prefix="iotcli-forward-") if args.data_dir else None
    storage = ["--data-dir", data_dir] if data_dir else ["--in-memory"]
    emu = subprocess.Popen(
        [sys.executable, "-m", "iotcli", "emulate", *storage, "--port", str(emu_port), "--token", TOKEN],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    base = f"http://127.0.0.1:{emu_port}"
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as client:
            wait_healthy(f"{base}/_emulator/health", emu)
            r = client.post(
                "/iot-flow/v1/connections",
                json={
                    "connectorId": "actility-http-iot",
                    "name": "bench",
                    "configuration": {
                        "destinationURL": f"http://127.0.0.1:{sink_port}/up",
                        "headers": {"X-Thing": "{DevEUI}"},
                    },
                },
            )
            r.raise_for_status()

            cpu_before = cpu_seconds(emu.pid)
            accepted, errors, latencies, started = asyncio.run(
                send_uplinks(emu_port, args.concurrency, args.seconds)
            )
            sent_for = time.perf_counter() - started
            drain_deadline = time.perf_counter() + args.drain
            last_seen, last_change = counter.value, time.perf_counter()
            while counter.value < accepted and time.perf_counter() < drain_deadline:
                time.sleep(0.01)
                if counter.value != last_seen:
                    last_seen, last_change = counter.value, time.perf_counter()
            received = counter.value
            cpu_used = cpu_seconds(emu.pid) - cpu_before
            end_to_end = (last_change if received < accepted else time.perf_counter()) - started
            statuses: dict[str, int] = {}
            for status in ("pending", "delivered", "dropped", "failed", "expired"):
                rows = client.get("/_emulator/deliveries", params={"status": status, "limit": 10000}).json()
                statuses[status] = len(rows)

        lat = sorted(latencies)
        p50 = statistics.median(lat) * 1000 if lat else 0.0
        p99 = lat[int(len(lat) * 0.99) - 1] * 1000 if lat else 0.0
        lost = accepted - received
        print(f"concurrency {args.concurrency}, {args.seconds:g} s of sending")
        print(
            f"ingress:     {accepted} uplinks accepted ({errors} errors), {accepted / sent_for:,.0f} uplinks/s"
        )
        print(
            f"ingress latency: p50 {p50:.1f} ms, p99 {p99:.1f} ms (answers do not wait for the destination)"
        )
        print(
            f"forwarded:   {received} received by the sink, {received / end_to_end:,.0f} uplinks/s end to end"
        )
        print(f"lost:        {lost}")
        if cpu_used and received:
            per = cpu_used / received * 1000
            print(
                f"emulator CPU: {cpu_used:.1f} s, {per:.3f} ms per uplink "
                f"(one free core would carry ~{1000 / per:,.0f} uplinks/s; {os.cpu_count()} cores here, "
                f"load average {os.getloadavg()[0]:.1f})"
            )
        print(f"journal (last 10,000 per status): {statuses}")
        print(f"storage:     {'SQLite file (WAL)' if data_dir else 'in memory'}")
        target = accepted / sent_for >= 2000 and received / end_to_end >= 2000 and lost == 0
        print("target (>= 2,000 uplinks/s, 0 lost):", "met" if target else "NOT met")
        return 0 if lost == 0 else 1
    finally:
        emu.terminate()
        try:
            emu.wait(15)
        except subprocess.TimeoutExpired:
            emu.kill()
        sink.terminate()
        if data_dir:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
