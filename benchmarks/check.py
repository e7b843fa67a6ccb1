"""Wall time of ``iotcli check --emulator examples/scenarios/*.toml``, next to its baselines, in one run.

Target (issue 14): all the example scenarios in under 5 s on this machine. Each round times, in turn:

- ``iotcli check --emulator`` over every example scenario (the whole command: start-up, a throw-away
  in-memory emulator, every scenario, the report);
- ``iotcli --help`` (the CLI's start-up alone);
- ``python -c "from iotcli.testing import Emulator; Emulator().start().stop()"`` (the emulator's start and stop alone).

So the scenarios' own share is the first minus the other two. Medians over ``--runs`` rounds.

    python benchmarks/check.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted(str(p) for p in (ROOT / "examples" / "scenarios").glob("*.toml"))
TARGET = 5.0


def time_once(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - start
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({run.returncode}):\n{run.stdout}{run.stderr}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="rounds (each times all three)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("IOTCLI_")}
        env |= {"IOTCLI_CONFIG_DIR": f"{tmp}/config", "IOTCLI_DATA_DIR": f"{tmp}/data"}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        py = sys.executable
        commands = {
            "check": [py, "-m", "iotcli", "check", "--emulator", *SCENARIOS],
            "help": [py, "-m", "iotcli", "--help"],
            "emulator": [py, "-c", "from iotcli.testing import Emulator; Emulator().start().stop()"],
        }
        for cmd in commands.values():  # warm: bytecode written, files cached
            time_once(cmd, env)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, cmd in commands.items():
                times[name].append(time_once(cmd, env))
    med = {name: statistics.median(values) for name, values in times.items()}
    steps = sum(Path(p).read_text().count("[[step]]") for p in SCENARIOS)
    print(
        f"iotcli check --emulator, {len(SCENARIOS)} example scenarios ({steps} steps), median of {args.runs}:"
    )
    print(f"  check (all scenarios)        {med['check']:6.2f} s   (target < {TARGET:g} s)")
    print(f"  baseline: iotcli --help      {med['help']:6.2f} s")
    print(f"  baseline: emulator start+stop{med['emulator']:6.2f} s")
    own = med["check"] - med["help"] - med["emulator"]
    print(f"  the scenarios themselves     {own:6.2f} s   (check - both baselines)")
    ok = med["check"] < TARGET
    print("target met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
