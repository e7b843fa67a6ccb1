"""Soak: nothing lost, nothing duplicated, memory bounded, under the issue's full load.

1. Ingest: ``--uplinks`` (20,000) callback calls of one HTTP device (its own device token) from
   ``--concurrency`` (64) keep-alive connections; each carries a unique ``ts``, so each 2xx must leave
   exactly one bucket record. Counts: sent, acknowledged (2xx), stored, lost (acknowledged, not stored),
   duplicated (records of the same call stored twice).
2. Delivery: ``--deliveries`` (5,000) LoRaWAN uplinks through ``--connections`` (4) strict-mode IoT Flow
   connections to a local destination that answers 500 to ``--failure-rate`` (30%) of the requests.
   Strict mode retries 3 more times; the few that fail 4 times are replayed from the journal until
   every one is delivered. Counts: sent (accepted 202), delivered (the destination answered 2xx),
   lost (accepted, never delivered), duplicated (the destination answered 2xx to the same uplink twice).
3. Memory: peak RSS of the emulator process (VmHWM) and the journal sizes at the end (capped with
   ``--journal-max-events`` / ``--journal-max-deliveries``).

The emulator is a real ``iotcli emulate`` process with its SQLite state in a temporary ``--data-dir``.
The same functions run scaled down in tests/reliability/test_load.py.

    .venv/bin/python benchmarks/soak.py                       # the full numbers
    .venv/bin/python benchmarks/soak.py --uplinks 2000 --deliveries 500
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from iotcli.testing import free_port, wait_healthy

TOKEN = "soak-account-token-0123456789"
USER = "local"


# -- a minimal HTTP/1.1 keep-alive client (a full Python client would be the bottleneck) ---------------


class RawConnection:
    """One keep-alive connection to a loopback server that answers with Content-Length bodies."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.writer.write(head.encode() + b"\r\n" + body)
        try:
            raw = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            await self.close()
            raise ConnectionError("connection closed by the server") from None
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value.strip())
            elif name.lower() == "connection" and value.strip().lower() == "close":
                close = True
        data = await self.reader.readexactly(length) if length else b""
        if close:
            await self.close()
        return status, data

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None


async def drive(
    base_url: str,
    count: int,
    concurrency: int,
    make: Callable[[int], tuple[str, bytes, dict[str, str]]],
    on_answer: Callable[[int, int, bytes], None],
    should_stop: Callable[[], bool] = lambda: False,
) -> None:
    """Send ``count`` requests (``make(i)`` -> path, body, headers) from ``concurrency`` connections."""
    url = urlsplit(base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    next_i = 0

    async def worker() -> None:
        nonlocal next_i
        conn = RawConnection(host, port)
        try:
            while next_i < count and not should_stop():
                i = next_i
                next_i += 1
                path, body, headers = make(i)
                try:
                    status, data = await conn.request("POST", path, body, headers)
                except (ConnectionError, OSError):
                    await conn.close()
                    on_answer(i, 0, b"")  # no answer: not acknowledged
                    continue
                on_answer(i, status, data)
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


# -- 1. callback ingest --------------------------------------------------------------------------------


@dataclass
class IngestResult:
    sent: int = 0
    acknowledged: int = 0
    stored: int = 0
    lost: int = 0
    duplicated: int = 0
    seconds: float = 0.0
    acked: set[int] = field(default_factory=set, repr=False)

    def row(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "acknowledged": self.acknowledged,
            "stored": self.stored,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "per_second": round(self.acknowledged / self.seconds) if self.seconds else 0,
        }


TS0 = 1_700_000_000_000


def setup_ingest(client: httpx.Client, device: str, bucket: str) -> str:
    """A bucket, an HTTP device writing to it; returns a device token."""
    r = client.post(
        f"/v1/users/{USER}/buckets",
        json={"bucket": bucket, "name": bucket, "enabled": True, "config": {"source": "write"}},
    )
    r.raise_for_status()
    client.post(f"/v1/users/{USER}/devices", json={"device": device, "type": "HTTP"}).raise_for_status()
    client.put(
        f"/v3/users/{USER}/devices/{device}/callback", json={"actions": {"write_bucket": bucket}}
    ).raise_for_status()
    r = client.post(f"/v1/users/{USER}/devices/{device}/tokens", json={"token_name": "soak"})
    r.raise_for_status()
    return str(r.json()["token"])


async def send_ingest(
    base_url: str,
    device_token: str,
    count: int,
    concurrency: int,
    *,
    device: str = "soak",
    start: int = 0,
    result: IngestResult | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> IngestResult:
    """Send ``count`` callback calls (indices ``start..``); record which ones were acknowledged."""
    result = result or IngestResult()
    path = f"/v3/users/{USER}/devices/{device}/callback/data"
    headers = {"Authorization": f"Bearer {device_token}", "Content-Type": "application/json"}

    def make(i: int) -> tuple[str, bytes, dict[str, str]]:
        n = start + i
        return path, json.dumps({"i": n, "ts": TS0 + n, "temp": n % 40}).encode(), headers

    def on_answer(i: int, status: int, _data: bytes) -> None:
        result.sent += 1
        if 200 <= status < 300:
            result.acknowledged += 1
            result.acked.add(start + i)

    began = time.perf_counter()
    await drive(base_url, count, concurrency, make, on_answer, should_stop)
    result.seconds += time.perf_counter() - began
    return result


def read_bucket(client: httpx.Client, bucket: str) -> list[dict[str, Any]]:
    """Every record of a bucket, oldest first (pages of 1000 by min_ts)."""
    records: list[dict[str, Any]] = []
    min_ts: int | None = None
    while True:
        params: dict[str, Any] = {"items": 1000, "sort": "asc"}
        if min_ts is not None:
            params["min_ts"] = min_ts  # inclusive
        r = client.get(f"/v1/users/{USER}/buckets/{bucket}/data", params=params)
        r.raise_for_status()
        page = r.json()
        if not page:
            return records
        records.extend(page)
        min_ts = page[-1]["ts"] + 1


def check_ingest(client: httpx.Client, bucket: str, result: IngestResult) -> IngestResult:
    records = read_bucket(client, bucket)
    seen = Counter(int(rec["val"]["i"]) for rec in records)
    result.stored = len(records)
    result.lost = len(result.acked - set(seen))
    result.duplicated = sum(n - 1 for n in seen.values() if n > 1)
    return result


# -- 2. delivery through strict-mode connections to a flaky destination --------------------------------


class FlakySink:
    """A keep-alive HTTP destination on 127.0.0.1 that answers 500 to ``failure_rate`` of the requests.

    Runs on the caller's event loop. ``delivered`` counts the 2xx answers per uplink (DevEUI, FCntUp).
    """

    def __init__(self, failure_rate: float, seed: int = 7) -> None:
        self.failure_rate = failure_rate
        self.random = random.Random(seed)
        self.requests = 0
        self.failed = 0
        self.delivered: Counter[tuple[str, int]] = Counter()
        self.server: asyncio.Server | None = None
        self.port = 0
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/uplinks"

    async def start(self) -> FlakySink:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            # End the keep-alive handlers ourselves: cancelled at loop exit, they would log noise.
            for task in list(self._handlers):
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 1)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:].strip())
                body = await reader.readexactly(length) if length else b""
                self.requests += 1
                if self.random.random() < self.failure_rate:
                    self.failed += 1
                    answer = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nfail"
                else:
                    key = _uplink_key(body)
                    if key is not None:
                        self.delivered[key] += 1
                    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                writer.write(answer)
                await writer.drain()
        except (
            asyncio.IncompleteReadError,
            ConnectionError,
            asyncio.LimitOverrunError,
            asyncio.CancelledError,
        ):
            pass
        finally:
            self._handlers.discard(task)
            writer.close()


def _uplink_key(body: bytes) -> tuple[str, int] | None:
    try:
        up = json.loads(body).get("DevEUI_uplink")
        return str(up["DevEUI"]).upper(), int(up["FCntUp"])
    except (ValueError, AttributeError, KeyError, TypeError):
        return None  # downlink reports and the like: not counted


@dataclass
class DeliveryResult:
    sent: int = 0
    delivered: int = 0
    failed_before_replay: int = 0
    replayed: int = 0
    lost: int = 0
    duplicated: int = 0
    destination_requests: int = 0
    destination_failures: int = 0
    seconds: float = 0.0
    accepted: set[tuple[str, int]] = field(default_factory=set, repr=False)

    def row(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "delivered": self.delivered,
            "failed_then_replayed": self.failed_before_replay,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "destination_requests": self.destination_requests,
            "destination_500s": self.destination_failures,
        }


def setup_connections(client: httpx.Client, destination: str, count: int) -> list[str]:
    ids = []
    for n in range(count):
        r = client.post(
            "/iot-flow/v1/connections",
            json={
                "connectorId": "actility-http-iot",
                "name": f"soak-{n}",
                "configuration": {"destinationURL": destination, "strictMode": True},
            },
        )
        r.raise_for_status()
        ids.append(str(r.json()["id"]))
    return ids


def deveui(n: int) -> str:
    return f"00AA{n:012X}"


async def send_uplinks(
    base_url: str,
    token: str,
    count: int,
    concurrency: int,
    connections: list[str],
    *,
    devices: int = 16,
    result: DeliveryResult | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> DeliveryResult:
    """``count`` uplinks, round-robin over devices and connections; records the accepted ones."""
    result = result or DeliveryResult()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def make(i: int) -> tuple[str, bytes, dict[str, str]]:
        body = {
            "DevEUI": deveui(i % devices),
            "FPort": 1 + i % 200,
            "payload_hex": f"{i:08x}",
            "connections": [connections[i % len(connections)]],
        }
        return "/_emulator/lorawan/uplinks", json.dumps(body).encode(), headers

    def on_answer(i: int, status: int, data: bytes) -> None:
        result.sent += 1
        if status == 202:
            answer = json.loads(data)
            result.accepted.add((deveui(i % devices), int(answer["FCntUp"])))

    began = time.perf_counter()
    await drive(base_url, count, concurrency, make, on_answer, should_stop)
    result.seconds += time.perf_counter() - began
    return result


async def settle(client: httpx.AsyncClient, timeout: float) -> dict[str, int]:
    """Wait until no delivery is pending; return the count per status (of the newest 10,000)."""
    deadline = time.monotonic() + timeout
    while True:
        r = await client.get("/_emulator/deliveries", params={"status": "pending", "limit": 1})
        r.raise_for_status()
        if not r.json():
            break
        if time.monotonic() > deadline:
            raise TimeoutError("deliveries still pending")
        await asyncio.sleep(0.05)
    r = await client.get("/_emulator/deliveries", params={"kind": "uplink", "limit": 10_000})
    r.raise_for_status()
    return dict(Counter(d["status"] for d in r.json()))


async def deliver_all(
    client: httpx.AsyncClient, sink: FlakySink, result: DeliveryResult, timeout: float
) -> DeliveryResult:
    """Let strict mode work, replay what failed 4 times until nothing is left, then count."""
    await settle(client, timeout)
    first = True
    while True:
        r = await client.get(
            "/_emulator/deliveries", params={"status": "failed", "kind": "uplink", "limit": 10_000}
        )
        r.raise_for_status()
        failed = r.json()
        if first:
            result.failed_before_replay = len(failed)
            first = False
        if not failed:
            break
        for d in failed:
            (await client.post(f"/_emulator/deliveries/{d['id']}/replay")).raise_for_status()
            result.replayed += 1
        await settle(client, timeout)
    result.delivered = len(set(sink.delivered) & result.accepted)
    result.lost = len(result.accepted - set(sink.delivered))
    result.duplicated = sum(n - 1 for n in sink.delivered.values() if n > 1)
    result.destination_requests = sink.requests
    result.destination_failures = sink.failed
    return result


# -- the emulator process -------------------------------------------------------------------------------


@contextlib.contextmanager
def emulator(data_dir: Path, *extra: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    args = [sys.executable, "-m", "iotcli", "emulate", "--port", str(port), "--token", TOKEN]
    proc = subprocess.Popen(
        [*args, "--data-dir", str(data_dir), *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_healthy(f"{url}/_emulator/health", proc, timeout=20)
        except RuntimeError:
            if proc.poll() is None:
                proc.kill()
            raise RuntimeError(
                f"emulator did not start: {proc.stderr.read().decode() if proc.stderr else ''}"
            ) from None
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a process (Linux VmHWM), in MiB; 0 where /proc is missing."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def journal_sizes(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("events", "deliveries")}
    finally:
        conn.close()


async def run(args: argparse.Namespace, url: str, pid: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=url, headers=auth, timeout=30) as client:
        device_token = setup_ingest(client, "soak", "soak")
        result = await send_ingest(url, device_token, args.uplinks, args.concurrency)
        out["ingest"] = check_ingest(client, "soak", result).row()
        out["ingest_seconds"] = round(result.seconds, 1)
        sink = await FlakySink(args.failure_rate).start()
        try:
            ids = setup_connections(client, sink.url, args.connections)
            delivery = await send_uplinks(url, TOKEN, args.deliveries, args.concurrency, ids)
            async with httpx.AsyncClient(base_url=url, headers=auth, timeout=30) as aclient:
                began = time.perf_counter()
                await deliver_all(aclient, sink, delivery, timeout=600)
                out["delivery_seconds"] = round(delivery.seconds + time.perf_counter() - began, 1)
            out["delivery"] = delivery.row()
        finally:
            await sink.stop()
    out["peak_rss_mb"] = round(peak_rss_mb(pid), 1)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--uplinks", type=int, default=20_000, help="callback calls to ingest")
    parser.add_argument("--deliveries", type=int, default=5_000, help="uplinks through the connections")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--failure-rate", type=float, default=0.3)
    parser.add_argument("--time-scale", type=float, default=0.001, help="2 s strict-mode retry delay = 2 ms")
    parser.add_argument("--journal-max-events", type=int, default=10_000)
    parser.add_argument("--journal-max-deliveries", type=int, default=10_000)
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="iotcli-soak-"))
    try:
        extra = [
            "--time-scale",
            str(args.time_scale),
            "--journal-max-events",
            str(args.journal_max_events),
            "--journal-max-deliveries",
            str(args.journal_max_deliveries),
        ]
        with emulator(data_dir, *extra) as (url, proc):
            out = asyncio.run(run(args, url, proc.pid))
        out["journal_rows_at_end"] = journal_sizes(data_dir / "emulator.db")
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)

    if args.json:
        print(json.dumps(out, indent=2))
    else:
        ing, dl = out["ingest"], out["delivery"]
        print(f"ingest   ({args.concurrency} connections, {out['ingest_seconds']} s, {ing['per_second']}/s)")
        for key in ("sent", "acknowledged", "stored", "lost", "duplicated"):
            print(f"  {key:<14} {ing[key]:>8}")
        print(
            f"delivery ({args.connections} strict connections, destination failing "
            f"{args.failure_rate:.0%}, {out['delivery_seconds']} s)"
        )
        for key in (
            "sent",
            "delivered",
            "failed_then_replayed",
            "lost",
            "duplicated",
            "destination_requests",
        ):
            print(f"  {key:<20} {dl[key]:>8}")
        print(f"peak RSS of the emulator: {out['peak_rss_mb']} MiB")
        print(f"journal rows at the end: {out['journal_rows_at_end']}")
    ok = out["ingest"]["lost"] == out["ingest"]["duplicated"] == 0
    ok = ok and out["delivery"]["lost"] == out["delivery"]["duplicated"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
