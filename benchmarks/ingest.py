"""Callback ingest throughput: `POST .../callback/data` of a real `iotcli emulate` process, beside a
bare Starlette endpoint that only parses the JSON, under the same load.

Both servers run as separate processes on free 127.0.0.1 ports; the load comes from raw asyncio
HTTP/1.1 keep-alive connections (a Python HTTP client would be the bottleneck, not the servers).
Every request carries a unique ``ts``, so each 200 answer must leave exactly one bucket record.

Targets: ratio (emulator req/s / bare req/s) >= 0.5, emulator p99 <= 25 ms, 0 lost records.

    python benchmarks/ingest.py [--seconds 10] [--concurrency 32] [--in-memory]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from iotcli.testing import free_port, wait_healthy

TOKEN = "bench-account-token-0123456789"
USER = "local"
DEVICE = "bench"
BUCKET = "bench_data"


# -- the bare baseline -----------------------------------------------------------------------------


def serve_bare(port: int) -> None:
    """A Starlette app whose one endpoint parses the JSON body and answers an empty 200."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def ingest(request: Request) -> Response:
        json.loads(await request.body())
        return Response(b"", 200)

    async def health(request: Request) -> Response:
        return Response(b"ok")

    app = Starlette(
        routes=[
            Route("/v3/users/{user}/devices/{device}/callback/data", ingest, methods=["POST"]),
            Route("/health", health),
        ]
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, server_header=False)


# -- load ------------------------------------------------------------------------------------------


class Load:
    def __init__(self, port: int, path: str, token: str, ts0: int) -> None:
        self.port = port
        self.path = path
        self.token = token
        self.ts = ts0
        self.ok = 0
        self.errors = 0
        self.latencies: list[float] = []

    def next_request(self) -> bytes:
        self.ts += 1
        body = json.dumps({"ts": self.ts, "temperature": 21.5, "humidity": 40, "seq": self.ts}).encode()
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Authorization: Bearer {self.token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        return head + body

    async def connection(self, stop_at: float) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            while time.perf_counter() < stop_at:
                request = self.next_request()
                start = time.perf_counter()
                writer.write(request)
                status_line = await reader.readline()
                length = 0
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                if length:
                    await reader.readexactly(length)
                self.latencies.append((time.perf_counter() - start) * 1000)
                if status_line.split(b" ")[1:2] == [b"200"]:
                    self.ok += 1
                else:
                    self.errors += 1
        finally:
            writer.close()

    async def run(self, seconds: float, concurrency: int) -> float:
        start = time.perf_counter()
        stop_at = start + seconds
        await asyncio.gather(*(self.connection(stop_at) for _ in range(concurrency)))
        return time.perf_counter() - start


def summarize(name: str, load: Load, elapsed: float) -> dict[str, float]:
    lat = sorted(load.latencies)
    p50 = statistics.median(lat) if lat else float("nan")
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan")
    rps = load.ok / elapsed
    print(
        f"{name:10s} {rps:9.0f} req/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   ok {load.ok}   errors {load.errors}"
    )
    return {"rps": rps, "p50": p50, "p99": p99}


# -- the emulator side ---------------------------------------------------------------------------


def setup_device(base: str) -> str:
    """Device with a bucket and a property (set_property), and a device token; returns the token."""
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as c:
        for method, path, body in [
            ("POST", f"/v1/users/{USER}/devices", {"device": DEVICE, "name": "Benchmark device"}),
            (
                "POST",
                f"/v1/users/{USER}/buckets",
                {"bucket": BUCKET, "name": "Benchmark", "enabled": True, "config": {"source": "api"}},
            ),
            (
                "PUT",
                f"/v3/users/{USER}/devices/{DEVICE}/callback",
                {"actions": {"write_bucket": BUCKET, "set_property": "last"}, "properties": {"timeout": 10}},
            ),
        ]:
            r = c.request(method, path, json=body)
            r.raise_for_status()
        r = c.post(f"/v1/users/{USER}/devices/{DEVICE}/tokens", json={"token_name": "bench"})
        r.raise_for_status()
        token: str = r.json()["token"]
        return token


def count_records(base: str) -> int:
    """Every record of the bench bucket, paging newest first with max_ts."""
    total = 0
    max_ts: int | None = None
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as c:
        while True:
            params: dict[str, int | str] = {"items": 1000, "sort": "desc"}
            if max_ts is not None:
                params["max_ts"] = max_ts
            page = c.get(f"/v1/users/{USER}/buckets/{BUCKET}/data", params=params).json()
            total += len(page)
            if len(page) < 1000:
                return total
            max_ts = page[-1]["ts"] - 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--in-memory", action="store_true", help="emulator state in memory instead of a data dir"
    )
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return 0

    data_dir = Path(tempfile.mkdtemp(prefix="iotcli-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        # The bare baseline.
        bare_port = free_port()
        bare = subprocess.Popen([sys.executable, __file__, "--serve-bare", str(bare_port)])
        procs.append(bare)
        # The emulator, as users run it.
        port = free_port()
        cmd = [sys.executable, "-m", "iotcli", "emulate", "--port", str(port), "--token", TOKEN]
        cmd += ["--in-memory"] if args.in_memory else ["--data-dir", str(data_dir)]
        emu = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        procs.append(emu)
        base = f"http://127.0.0.1:{port}"
        wait_healthy(f"http://127.0.0.1:{bare_port}/health", bare)
        wait_healthy(f"{base}/_emulator/health", emu)
        device_token = setup_device(base)

        path = f"/v3/users/{USER}/devices/{DEVICE}/callback/data"
        bare_load = Load(bare_port, path, "x", 1_600_000_000_000)
        emu_load = Load(port, path, device_token, 1_600_000_000_000)
        # Short alternating rounds, so that other load on the machine hits both sides alike.
        rounds = max(1, round(args.seconds / 2))
        bare_elapsed = emu_elapsed = 0.0
        for _ in range(rounds):
            bare_elapsed += asyncio.run(bare_load.run(args.seconds / rounds, args.concurrency))
            emu_elapsed += asyncio.run(emu_load.run(args.seconds / rounds, args.concurrency))
        print(f"{args.concurrency} connections, {args.seconds:g} s per server in {rounds} alternating rounds")
        base_stats = summarize("bare", bare_load, bare_elapsed)
        emu_stats = summarize("emulator", emu_load, emu_elapsed)
        records = count_records(base)
        lost = emu_load.ok - records

        ratio = emu_stats["rps"] / base_stats["rps"] if base_stats["rps"] else 0.0
        print(f"ratio      {ratio:.2f}   (target >= 0.5)")
        print(f"p99        {emu_stats['p99']:.2f} ms   (target <= 25 ms)")
        print(f"lost       {lost}   ({emu_load.ok} answers 200, {records} bucket records; target 0)")
        print(f"storage    {'in memory' if args.in_memory else 'SQLite file (WAL)'}")
        return 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
