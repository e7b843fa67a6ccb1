"""Does an open inspector page slow the emulator down? Ingest and forwarding, with and without it.

Runs the ingest benchmark's load (``benchmarks/ingest.py``: device callbacks into a bucket) and the
forward benchmark's load (``benchmarks/forward.py``: LoRaWAN uplinks forwarded to a local sink), each
against its own real ``iotcli emulate``, in alternating rounds: without a page, with a page, without,
... so that whatever else the machine does hits both alike. "A page" is what an open inspector asks of
the server: a logged-in browser session following the live stream (``/_emulator/ui/stream``, filtered
for the page) and reloading the page it shows when the stream says it changed (as its script does: at
most every 2.5 s under load). ``--browser`` opens the
real page in headless Debian Chromium instead (it then also competes for the CPU, as it would).

Target: with the page, each throughput stays within 10% of the same rounds without it.

``--pin`` runs the emulator (with its load generator and sink) on CPU 0 and the page (Chromium and its
driver, or the simulated page) on CPU 1, in every round alike: on a 2-core machine this separates what
the emulator does for the page from the browser simply taking a core. Each round also reports the
emulator's CPU time per request and the page's CPU use, side by side.

    .venv/bin/python benchmarks/inspector.py [--seconds 4] [--rounds 3] [--concurrency 32] [--browser] [--pin]

``INSPECTOR_BENCH_IDLE_PAGE=1`` makes the "page" a process that asks nothing: the control for what the
rounds differ in besides the page's requests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
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
#: Seconds of quiet before every round, with the page (once it is up) or without: both sides start alike.
SETTLE = 1.0
#: With --pin: the emulator, its load generator and sink here; the page (browser) on PAGE_CPUS.
EMULATOR_CPUS, PAGE_CPUS = {0}, {1}


def tree_cpu_seconds(root: int) -> float:
    """CPU time of a process and every live descendant (Chromium's renderers, GPU and network processes)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += forward.cpu_seconds(pid)
        todo += children.get(pid, [])
    return total


# -- the open page ---------------------------------------------------------------------------------


#: As the page's script: its first reload a second after a change, then at most every this many seconds.
REFRESH_GAP = 2.5


def _page_http(base: str, token: str, path: str, stop: Any, counts: Any) -> None:
    """What an open page asks, as its script does: the live stream filtered for the page (its
    ``data-live``), and the page itself when the stream says it changed (at most every REFRESH_GAP s)."""
    with httpx.Client(base_url=base, timeout=10, headers={"Origin": base}) as client:
        r = client.post(f"{UI}/login", data={"token": token, "next": f"{UI}/"}, follow_redirects=False)
        if r.status_code != 303:
            raise RuntimeError(f"inspector login failed: {r.status_code}")
        found = re.search(r'data-live="([^"]*)"', client.get(path).text)
        live = found.group(1) if found else ""
        changed = threading.Event()

        def follow() -> None:
            with client.stream("GET", f"{UI}/stream", params={"live": live}, timeout=None) as stream:
                for line in stream.iter_lines():
                    if line.startswith("data:"):
                        counts[0] += 1
                        if json.loads(line[5:]).get("changed"):
                            changed.set()
                    if stop.is_set():
                        return

        threading.Thread(target=follow, daemon=True).start()
        started = tree_cpu_seconds(os.getpid())
        counts[3] = 1
        last = 0.0
        while not stop.wait(0.1):
            if changed.is_set() and time.monotonic() - last >= REFRESH_GAP:
                stop.wait(1.0)
                changed.clear()
                last = time.monotonic()
                client.get(path).raise_for_status()
                counts[1] += 1
            counts[2] = int((tree_cpu_seconds(os.getpid()) - started) * 1000)


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
        started = tree_cpu_seconds(os.getpid())
        counts[3] = 1  # the page is up: the round may start
        ticks = 0
        while not stop.wait(0.5):
            ticks += 1
            if ticks % 4 == 0:  # the rows shown, now and then (each look costs the browser a little)
                counts[1] = page.locator("#journal tbody tr").count()
            counts[2] = int((tree_cpu_seconds(os.getpid()) - started) * 1000)
        browser.close()


def page_process(
    base: str, token: str, path: str, real_browser: bool, stop: Any, counts: Any, cpus: set[int] | None
) -> None:
    if cpus:
        os.sched_setaffinity(0, cpus)  # Chromium's processes inherit it
    if os.environ.get("INSPECTOR_BENCH_IDLE_PAGE"):
        # The control: a page process that asks nothing (same processes, no page work at all).
        counts[3] = 1
        stop.wait()
        return
    (_page_browser if real_browser else _page_http)(base, token, path, stop, counts)


class OpenPage:
    """An inspector page open in another process while a round runs."""

    def __init__(self, base: str, token: str, path: str, real_browser: bool, cpus: set[int] | None) -> None:
        self.stop = multiprocessing.Event()
        #: stream batches, page loads (or journal rows shown), page CPU ms during the round, page up
        self.counts = multiprocessing.Array("q", 4)
        self.proc = multiprocessing.Process(
            target=page_process,
            args=(base, token, path, real_browser, self.stop, self.counts, cpus),
            daemon=True,
        )

    def __enter__(self) -> OpenPage:
        self.proc.start()
        deadline = time.perf_counter() + 30
        while not self.counts[3] and self.proc.is_alive() and time.perf_counter() < deadline:
            time.sleep(0.05)
        time.sleep(SETTLE)  # logged in and following (the page drawn) before the load starts
        self.cpu_ms_at_start = self.counts[2]
        return self

    @property
    def cpu_ms(self) -> int:
        """The page's CPU milliseconds since the load started (all its processes)."""
        return int(self.counts[2] - self.cpu_ms_at_start)

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.terminate()


# -- the two loads ---------------------------------------------------------------------------------


#: Set by --pin: the CPUs of the emulators started from now on.
PIN: set[int] | None = None


def start_emulator(port: int, token: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "iotcli", "emulate", "--in-memory", "--port", str(port), "--token", token]
    if PIN:
        cmd = ["taskset", "-c", ",".join(map(str, sorted(PIN))), *cmd]
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
        used = forward.cpu_seconds(self.proc.pid) - cpu
        self.cpu_ms = used * 1000 / max(1, self.load.ok - before)
        self.busy, self.elapsed = used / elapsed, elapsed
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
        elapsed = time.perf_counter() - started
        used = forward.cpu_seconds(self.proc.pid) - cpu
        self.cpu_ms = used * 1000 / max(1, accepted)
        self.busy, self.elapsed = used / elapsed, elapsed
        return accepted / elapsed

    def close(self) -> None:
        self.sink.terminate()


def median_change(without: list[float], with_page: list[float]) -> tuple[float, float, float]:
    a, b = statistics.median(without), statistics.median(with_page)
    return a, b, ((b - a) / a * 100 if a else 0.0)


def compare(name: str, without: list[float], with_page: list[float]) -> bool:
    a, b, change = median_change(without, with_page)
    ok = change >= -10
    print(
        f"{name:8s} without page {a:9,.0f}/s   with page {b:9,.0f}/s   {change:+6.1f}%   "
        f"(rounds: {', '.join(f'{x:,.0f}' for x in without)} | {', '.join(f'{x:,.0f}' for x in with_page)})"
        f"   {'within 10%' if ok else 'NOT within 10%'}"
    )
    return ok


class Figures:
    """Per load, per side (without page, with page): each round's rate, emulator CPU and page CPU."""

    def __init__(self) -> None:
        self.rate: tuple[list[float], list[float]] = ([], [])
        self.cpu_ms: tuple[list[float], list[float]] = ([], [])  # emulator CPU ms per request
        self.busy: tuple[list[float], list[float]] = ([], [])  # emulator CPU seconds per second
        self.page_cpu: list[float] = []  # the page's CPU seconds per second (with page only)

    def add(self, side: int, rounds: Any, rate: float, page: OpenPage | None) -> None:
        self.rate[side].append(rate)
        self.cpu_ms[side].append(rounds.cpu_ms)
        self.busy[side].append(rounds.busy)
        if page is not None:
            self.page_cpu.append(page.cpu_ms / 1000 / rounds.elapsed)


def report(name: str, f: Figures) -> bool:
    ok = compare(name, *f.rate)
    a, b, change = median_change(*f.cpu_ms)
    print(f"{'':8s} emulator CPU per request: without page {a:.3f} ms, with page {b:.3f} ms ({change:+.1f}%)")
    a, b, change = median_change(*f.busy)
    page = statistics.median(f.page_cpu) if f.page_cpu else 0.0
    print(
        f"{'':8s} emulator CPU use: without page {a * 100:.0f}% of a core, with page {b * 100:.0f}%;"
        f" the page itself used {page * 100:.0f}% of a core"
    )
    return ok


def main() -> int:
    global PIN
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds of load per round (default 4)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds with and without the page (default 3)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--browser", action="store_true", help=f"open the real page in {CHROMIUM} (headless)")
    parser.add_argument(
        "--pin",
        action="store_true",
        help="emulator, load and sink on CPU 0; the page on CPU 1 (in every round)",
    )
    parser.add_argument("--only", choices=["ingest", "forward"], help="run one of the two loads")
    args = parser.parse_args()
    if args.browser and not os.path.exists(CHROMIUM):
        print(f"no {CHROMIUM}: apt-get install chromium", file=sys.stderr)
        return 2
    page_cpus = None
    if args.pin:
        if len(os.sched_getaffinity(0)) < 2:
            print("--pin needs two CPUs", file=sys.stderr)
            return 2
        PIN, page_cpus = EMULATOR_CPUS, PAGE_CPUS
        os.sched_setaffinity(0, EMULATOR_CPUS)  # the load generator, and the sink forked from it

    loads: list[tuple[str, Any, str]] = []
    figures: dict[str, Figures] = {}
    try:
        if args.only in (None, "ingest"):
            ingest_rounds = IngestRounds(args.seconds, args.concurrency)
            loads.append(("ingest", ingest_rounds, f"{UI}/devices/{ingest.DEVICE}"))
        if args.only in (None, "forward"):
            forward_rounds = ForwardRounds(args.seconds, args.concurrency)
            loads.append(("forward", forward_rounds, f"{UI}/events"))
        for name, rounds, _path in loads:
            rounds.round()  # warm-up, not counted
            figures[name] = Figures()
        for i in range(args.rounds):
            for name, rounds, path in loads:
                token = ingest.TOKEN if name == "ingest" else forward.TOKEN
                # Alternate which goes first, so neither side always runs on a warmer emulator.
                for with_page in (False, True) if i % 2 == 0 else (True, False):
                    if with_page:
                        with OpenPage(rounds.base, token, path, args.browser, page_cpus) as page:
                            rate = rounds.round()
                            figures[name].add(1, rounds, rate, page)
                        print(
                            f"  round {i + 1} {name:7s} with page    {rate:9,.0f}/s  "
                            f"emulator {rounds.cpu_ms:.3f} ms/request, {rounds.busy * 100:3.0f}% busy; "
                            f"page {figures[name].page_cpu[-1] * 100:3.0f}% of a core "
                            f"(stream batches {page.counts[0]}, page loads/rows {page.counts[1]})"
                        )
                    else:
                        time.sleep(SETTLE)
                        rate = rounds.round()
                        figures[name].add(0, rounds, rate, None)
                        print(
                            f"  round {i + 1} {name:7s} without page {rate:9,.0f}/s  "
                            f"emulator {rounds.cpu_ms:.3f} ms/request, {rounds.busy * 100:3.0f}% busy"
                        )
        print(
            f"{args.concurrency} connections, {args.seconds:g} s per round, {args.rounds} rounds each, "
            f"page: {'headless Chromium' if args.browser else 'simulated (the stream and reloads its script asks)'}"
            f"{', pinned: emulator+load CPU 0, page CPU 1' if args.pin else ', not pinned'}"
        )
        ok = all([report(name, f) for name, f in figures.items()])
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
