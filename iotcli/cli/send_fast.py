"""The fast path of ``iotcli send-uplink``: the same command without assembling the whole typer tree.

A single send is a tester's inner loop and competes with curl and HTTPie. Assembling the command tree
imports every group (httpx among them) and typer 0.29 builds a pydantic TypeAdapter for each of the
command's ~30 parameters: ~0.4 s of CPU before the first byte is sent. ``iotcli/cli/__init__.py``
routes ``iotcli send-uplink ...`` here instead (not ``--help``, and not when global options come first):
argparse reads the same options into the same ``SendOptions`` and ``run_send`` does the work, inside
the same error boundary rules (one stderr line, the contract's exit codes).

``tests/cli/test_send_fast.py`` checks that this parser and the typer command accept the same options.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from iotcli.errors import UsageError

#: (flags, dest, kind): kind is str | int | float | flag | count | append
OPTIONS: list[tuple[tuple[str, ...], str, str]] = [
    (("--device", "-d"), "device", "str"),
    (("--url",), "url", "str"),
    (("--deveui",), "deveui", "str"),
    (("--fport",), "fport", "int"),
    (("--payload-hex",), "payload_hex", "str"),
    (("--payload",), "payload", "str"),
    (("--connection", "-c"), "connection", "append"),
    (("--to",), "to", "str"),
    (("--downlink-url",), "downlink_url", "str"),
    (("--no-downlink-url",), "no_downlink_url", "flag"),
    (("--fcnt",), "fcnt", "int"),
    (("--data",), "data", "str"),
    (("--file", "-f"), "file", "str"),
    (("--header", "-H"), "header", "append"),
    (("--method", "-X"), "method", "str"),
    (("--token",), "token", "str"),
    (("--repeat", "-n"), "repeat", "int"),
    (("--rate",), "rate", "float"),
    (("--interval",), "interval", "float"),
    (("--concurrency",), "concurrency", "int"),
    (("--timeout",), "timeout", "float"),
    (("--print",), "print_as", "str"),
    (("--dry-run",), "dry_run", "flag"),
    (("--json",), "json_out", "flag"),
    (("--verbose", "-v"), "verbose", "count"),
]

#: Bounds the typer command declares with min=/max= (checked here the same way).
BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "fcnt": (0, None),
    "repeat": (1, None),
    "rate": (0.001, None),
    "interval": (0.0, None),
    "concurrency": (1, 512),
    "timeout": (0.001, None),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would print usage and exit 2 itself
        raise UsageError(message, hint="see: iotcli send-uplink --help")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="iotcli send-uplink", add_help=False, allow_abbrev=False)
    parser.add_argument("items", nargs="*")
    for flags, dest, kind in OPTIONS:
        if kind == "flag":
            parser.add_argument(*flags, dest=dest, action="store_true")
        elif kind == "count":
            parser.add_argument(*flags, dest=dest, action="count", default=0)
        elif kind == "append":
            parser.add_argument(*flags, dest=dest, action="append")
        else:
            parser.add_argument(*flags, dest=dest, type={"str": str, "int": int, "float": float}[kind])
    return parser


#: Options that take a value: the next argument is their value even when it starts with ``-``.
VALUE_FLAGS = frozenset(
    flag for flags, _dest, kind in OPTIONS if kind not in ("flag", "count") for flag in flags
)


def attach_values(argv: Sequence[str]) -> list[str]:
    """``--token -x1`` -> ``--token=-x1``: argparse would take ``-x1`` for an option, click (the typer
    command) takes it as the value, and a token may well start with ``-``."""
    out: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            out.extend(args[i:])
            break
        if arg in VALUE_FLAGS and i + 1 < len(args):
            out.append(f"{arg}={args[i + 1]}")
            i += 2
            continue
        out.append(arg)
        i += 1
    return out


def parse(argv: Sequence[str]) -> dict[str, Any]:
    """argv (after ``send-uplink``) -> keyword arguments for SendOptions (unset options left out)."""
    ns = build_parser().parse_intermixed_args(attach_values(argv))
    values = {k: v for k, v in vars(ns).items() if v is not None}
    for name, (low, high) in BOUNDS.items():
        value = values.get(name)
        if value is None:
            continue
        flag = "--" + name.replace("_", "-")
        if low is not None and value < low:
            raise UsageError(f"invalid value for '{flag}': {value} is not in the range x>={low:g}")
        if high is not None and value > high:
            raise UsageError(f"invalid value for '{flag}': {value} is not in the range x<={high:g}")
    if not values.get("items"):
        values.pop("items", None)
    return values


def should_take(argv: Sequence[str]) -> bool:
    """``iotcli send-uplink ...`` with arguments, no help wanted, fast path not disabled."""
    return (
        len(argv) > 1
        and argv[0] == "send-uplink"
        and not any(a in ("-h", "--help") for a in argv[1:])
        and not os.environ.get("IOTCLI_NO_FAST_PATH")
    )


def main(argv: Sequence[str]) -> int:
    """Run send-uplink with ``argv`` (after the command name); return the exit code.

    Failures go through ``report_failure``, the rules of the command tree's error boundary
    (``IotcliGroup.invoke``), so both paths report and exit alike.
    """
    from iotcli.cli.output import Output

    out = Output(json_mode="--json" in argv)
    try:
        from iotcli.cli.send import SendOptions, run_send
        from iotcli.cli.state import CliState, GlobalOptions

        values = parse(argv)
        env = os.environ
        opts = GlobalOptions(
            profile=env.get("IOTCLI_PROFILE") or None,
            server=env.get("IOTCLI_SERVER") or None,
            user=env.get("IOTCLI_USER") or None,
            token=env.get("IOTCLI_TOKEN") or None,
        )
        out = Output(json_mode=bool(values.get("json_out")))
        run_send(CliState(opts, out), SendOptions(**values))
        return 0
    except (KeyboardInterrupt, Exception) as exc:  # noqa: BLE001 - the boundary
        # Imported here, not at the top: typer is loaded by now (iotcli.cli.send and state import it).
        import typer

        from iotcli.cli.errors import report_failure

        if isinstance(exc, typer.Exit):  # the command's own exit code (4, 5, 6 for an answer)
            return int(exc.exit_code)
        return report_failure(exc, out)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
