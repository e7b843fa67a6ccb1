"""CLI start-up time: `iotcli --version`, `iotcli --help` and a command (`config show`, which needs no
server) beside `python -c pass`. A command builds only its own group of the tree (``app_for``).

Target: `--version` within 100 ms of `python -c pass`. The CLI must import uvicorn, starlette and
the emulator only inside `iotcli emulate`.

    python benchmarks/cli_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def median_ms(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    py = sys.executable
    base = median_ms([py, "-c", "pass"], args.runs)
    version = median_ms([py, "-m", "iotcli", "--version"], args.runs)
    helptext = median_ms([py, "-m", "iotcli", "--help"], args.runs)
    command = median_ms([py, "-m", "iotcli", "config", "show"], args.runs)
    print(f"python -c pass     {base:8.1f} ms")
    print(
        f"iotcli --version   {version:8.1f} ms  (+{version - base:.1f} ms; target <= +100 ms: "
        f"{'ok' if version - base <= 100 else 'MISSED'})"
    )
    print(f"iotcli --help      {helptext:8.1f} ms  (+{helptext - base:.1f} ms)")
    print(f"iotcli config show {command:8.1f} ms  (+{command - base:.1f} ms)")


if __name__ == "__main__":
    main()
