"""Does an open inspector page slow the emulator down? Ingest and forwarding, with and without it.

Runs the ingest benchmark's load (``benchmarks/ingest.py``: device callbacks into a bucket) and the
forward benchmark's load (``benchmarks/forward.py``: LoRaWAN uplinks forwarded to a local sink), each
against its own real ``iotcli emulate``, in alternating rounds: without a page, with a page, without,
... so that whatever else the machine does hits both alike. "A page" is what an open inspector asks of
the server: a logged-in browser session following the live stream (``/_emulator/ui/stream``) and
reloading the page it shows once a second (the most its live refresh does). ``--browser`` opens the
real page in headless Debian Chromium instead (it then also competes for the CPU, as it would).

Target: with the page, each throughput stays within 10% of the same rounds without it.

    .venv/bin/python benchmarks/inspector.py [--seconds 4] [--rounds 3] [--concurrency 32] [--browser]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import subprocess
import sys
import threading
import time
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
import forward  # noqa: E402  (the forward benchmark's sink and uplink load)
import ingest  # noqa: E402  (the ingest benchmark's device setup and callback load)

UI = "/_emulator/ui"
CHROMIUM = "/usr/bin/chromium"


# -- the open page ---------------------------------------------------------------------------------


def _page_http(base: str, token: str, path: str, stop: Any, counts: Any) -> None:
    """What an open page asks: the live stream, and the page itself once a second."""
    with httpx.Client(base_url=base, timeout=10, headers={"Origin": base}) as client:
        r = client.post(f"{UI}/login", data={"token": token, "next": f"{UI}/"}, follow_redirects=False)
        if r.status_code != 303:
            raise RuntimeError(f"inspector login failed: {r.status_code}")

        def follow() -> None:
            with client.stream("GET", f"{UI}/stream", timeout=None) as stream:
                for line in stream.iter_lines():
                    if line.startswith("data:"):
                        counts[0] += 1
                    if stop.is_set():
                        return

        threading.Thread(target=follow, daemon=True).start()
        while not stop.wait(1.0):
            client.get(path).raise_for_status()
            counts[1] += 1


def _page_browser(base: str, token: str, path: str, stop: Any, counts: Any) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-sync"],
        )
        page = browser.new_page(base_url=base)
        page.goto(f"{UI}/login?next={path}")
        page.fill("#token", token)
        page.press("#token", "Enter")
        page.wait_for_url(f"**{path}")
        while not stop.wait(0.5):
            counts[1] = page.locator("#journal tbody tr").count()
        browser.close()


def page_process(base: str, token: str, path: str, real_browser: bool, stop: Any, counts: Any) -> None:
    (_page_browser if real_browser else _page_http)(base, token, path, stop, counts)


class OpenPage:
    """An inspector page open in another process while a round runs."""

    def __init__(self, base: str, token: str, path: str, real_browser: bool) -> None:
        self.stop = multiprocessing.Event()
        self.counts = multiprocessing.Array("q", 2)  # stream batches, page loads
        self.proc = multiprocessing.Process(
            target=page_process, args=(base, token, path, real_browser, self.stop, self.counts), daemon=True
        )

    def __enter__(self) -> OpenPage:
        self.proc.start()
        time.sleep(1.5 if self.proc.is_alive() else 0)  # logged in and following before the load starts
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.terminate()


# -- the two loads ---------------------------------------------------------------------------------


def start_emulator(port: int, token: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "iotcli", "emulate", "--in-memory", "--port", str(port), "--token", token]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ingest.wait_healthy(f"http://127.0.0.1:{port}/_emulator/health", proc)
    return proc


class IngestRounds:
    def __init__(self, seconds: float, concurrency: int) -> None:
        self.port = ingest.free_port()
        self.proc = start_emulator(self.port, ingest.TOKEN)
        self.base = f"http://127.0.0.1:{self.port}"
        device_token = ingest.setup_device(self.base)
        path = f"/v3/users/{ingest.USER}/devices/{ingest.DEVICE}/callback/data"
        self.load = ingest.Load(self.port, path, device_token, 1_600_000_000_000)
        self.seconds, self.concurrency = seconds, concurrency

    def round(self) -> float:
        before, cpu = self.load.ok, forward.cpu_seconds(self.proc.pid)
        elapsed = asyncio.run(self.load.run(self.seconds, self.concurrency))
        self.cpu_ms = (forward.cpu_seconds(self.proc.pid) - cpu) * 1000 / max(1, self.load.ok - before)
        return (self.load.ok - before) / elapsed


class ForwardRounds:
    def __init__(self, seconds: float, concurrency: int) -> None:
        self.sink_port, self.port = forward.free_port(), forward.free_port()
        self.counter: Synchronized = multiprocessing.Value("q", 0)  # type: ignore[type-arg]
        ready = multiprocessing.Event()
        self.sink = multiprocessing.Process(
            target=forward.run_sink, args=(self.sink_port, self.counter, ready), daemon=True
        )
        self.sink.start()
        ready.wait(10)
        self.proc = start_emulator(self.port, forward.TOKEN)
        self.base = f"http://127.0.0.1:{self.port}"
        with httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {forward.TOKEN}"}) as c:
            c.post(
                "/iot-flow/v1/connections",
                json={
                    "connectorId": "actility-http-iot",
                    "name": "bench",
                    "configuration": {"destinationURL": f"http://127.0.0.1:{self.sink_port}/up"},
                },
            ).raise_for_status()
        time.sleep(1.5)  # the new connection opens (CLOSED -> OPENING -> OPENED)
        self.accepted = 0
        self.seconds, self.concurrency = seconds, concurrency

    def round(self) -> float:
        """Uplinks per second from the first send to the last arrival at the sink."""
        cpu = forward.cpu_seconds(self.proc.pid)
        accepted, _errors, _lat, started = asyncio.run(
            forward.send_uplinks(self.port, self.concurrency, self.seconds)
        )
        self.accepted += accepted
        deadline = time.perf_counter() + 60
        while self.counter.value < self.accepted and time.perf_counter() < deadline:
            time.sleep(0.005)
        self.cpu_ms = (forward.cpu_seconds(self.proc.pid) - cpu) * 1000 / max(1, accepted)
        return accepted / (time.perf_counter() - started)

    def close(self) -> None:
        self.sink.terminate()


def compare(name: str, without: list[float], with_page: list[float]) -> bool:
    a, b = statistics.median(without), statistics.median(with_page)
    change = (b - a) / a * 100 if a else 0.0
    ok = change >= -10
    print(
        f"{name:8s} without page {a:9,.0f}/s   with page {b:9,.0f}/s   {change:+6.1f}%   "
        f"(rounds: {', '.join(f'{x:,.0f}' for x in without)} | {', '.join(f'{x:,.0f}' for x in with_page)})"
        f"   {'within 10%' if ok else 'NOT within 10%'}"
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds of load per round (default 4)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds with and without the page (default 3)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--browser", action="store_true", help=f"open the real page in {CHROMIUM} (headless)")
    args = parser.parse_args()
    if args.browser and not os.path.exists(CHROMIUM):
        print(f"no {CHROMIUM}: apt-get install chromium", file=sys.stderr)
        return 2

    loads: list[tuple[str, Any, str]] = []
    results: dict[str, tuple[list[float], list[float]]] = {}
    #: The emulator's CPU milliseconds per request: steadier than rates on a machine others use too.
    cpu: dict[str, tuple[list[float], list[float]]] = {}
    try:
        ingest_rounds = IngestRounds(args.seconds, args.concurrency)
        loads.append(("ingest", ingest_rounds, f"{UI}/devices/{ingest.DEVICE}"))
        forward_rounds = ForwardRounds(args.seconds, args.concurrency)
        loads.append(("forward", forward_rounds, f"{UI}/events"))
        for name, rounds, _path in loads:
            rounds.round()  # warm-up, not counted
            results[name] = ([], [])
            cpu[name] = ([], [])
        for i in range(args.rounds):
            for name, rounds, path in loads:
                token = ingest.TOKEN if name == "ingest" else forward.TOKEN
                # Alternate which goes first, so neither side always runs on a warmer emulator.
                for with_page in (False, True) if i % 2 == 0 else (True, False):
                    if with_page:
                        with OpenPage(rounds.base, token, path, args.browser) as page:
                            rate = rounds.round()
                        results[name][1].append(rate)
                        cpu[name][1].append(rounds.cpu_ms)
                        print(
                            f"  round {i + 1} {name:7s} with page    {rate:9,.0f}/s  (stream batches {page.counts[0]}, page loads {page.counts[1]})"
                        )
                    else:
                        rate = rounds.round()
                        results[name][0].append(rate)
                        cpu[name][0].append(rounds.cpu_ms)
                        print(f"  round {i + 1} {name:7s} without page {rate:9,.0f}/s")
        print(
            f"{args.concurrency} connections, {args.seconds:g} s per round, {args.rounds} rounds each, "
            f"page: {'headless Chromium' if args.browser else 'stream + reload once a second'}"
        )
        ok = all([compare(name, *results[name]) for name in results])
        for name in cpu:
            a, b = statistics.median(cpu[name][0]), statistics.median(cpu[name][1])
            print(
                f"{name:8s} emulator CPU per request: without page {a:.3f} ms, with page {b:.3f} ms "
                f"({(b - a) / a * 100 if a else 0:+.1f}%)"
            )
        return 0 if ok else 1
    finally:
        for _name, rounds, _path in loads:
            rounds.proc.terminate()
            try:
                rounds.proc.wait(15)
            except subprocess.TimeoutExpired:
                rounds.proc.kill()
            if isinstance(rounds, ForwardRounds):
                rounds.close()


if __name__ == "__main__":
    raise SystemExit(main())
