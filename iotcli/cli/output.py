"""The only place that prints.

People get rich tables on a terminal and plain tab-separated text when piped; scripts get
``{"data": ...}`` with ``--json`` (and ``{"error": {...}}`` on failure), and nothing else on stdout.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import IO, Any

from iotcli.errors import IotcliError

Column = tuple[str, str]  # (key in the row, header)


class Output:
    def __init__(
        self,
        *,
        json_mode: bool = False,
        verbose: int = 0,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
    ) -> None:
        self.json_mode = json_mode
        self.verbose = verbose
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        #: A live stream of JSON lines has been written (``stream_line``): errors follow as one line.
        self.streaming = False

    @property
    def is_terminal(self) -> bool:
        isatty = getattr(self.stdout, "isatty", None)
        return bool(isatty and isatty())

    def _console(self, err: bool = False) -> Any:
        from rich.console import Console

        return Console(file=self.stderr if err else self.stdout, highlight=False, soft_wrap=not err)

    # -- data -----------------------------------------------------------------------------------
    def json(self, payload: Any) -> None:
        self.stdout.write(json.dumps(payload, indent=2, default=str, ensure_ascii=False) + "\n")
        self.stdout.flush()

    def data(
        self,
        obj: Any,
        *,
        columns: Sequence[Column] | None = None,
        title: str | None = None,
        empty: str | None = None,
    ) -> None:
        """Print a result: a list as a table (``columns``), a dict as key/value lines, else as is.

        ``empty``: what an empty list tells people, with a hint (``no devices yet: iotcli device
        create ID``), on stderr; with --json an empty list is just ``[]``.
        """
        if self.json_mode:
            self.json({"data": obj})
            return
        if isinstance(obj, list) and not obj and empty:
            if columns and not self.is_terminal:
                self.table(obj, columns, title=title)  # scripts reading columns still get the header
            self.info(empty)
            return
        if isinstance(obj, list) and columns:
            self.table(obj, columns, title=title)
        elif isinstance(obj, dict):
            self.record(obj, title=title)
        elif isinstance(obj, list):
            for item in obj:
                self.stdout.write(format_value(item) + "\n")
        elif obj is not None:
            self.stdout.write(format_value(obj) + "\n")

    def table(
        self, rows: Sequence[dict[str, Any]], columns: Sequence[Column], *, title: str | None = None
    ) -> None:
        if self.is_terminal:
            from rich.table import Table

            table = Table(title=title, show_edge=False, header_style="bold")
            for _key, header in columns:
                table.add_column(header)
            for row in rows:
                table.add_row(*(format_value(get_path(row, key)) for key, _h in columns))
            self._console().print(table)
            if not rows:
                self.info("(none yet)")
            return
        self.stdout.write("\t".join(h for _k, h in columns) + "\n")
        for row in rows:
            self.stdout.write("\t".join(format_value(get_path(row, key)) for key, _h in columns) + "\n")

    def record(self, obj: dict[str, Any], *, title: str | None = None) -> None:
        if title and self.is_terminal:
            self._console().print(f"[bold]{title}[/bold]")
        width = max((len(k) for k in obj), default=0)
        for key, value in obj.items():
            if isinstance(value, dict) and value:
                # A nested object (a device's ``connection``) as its own fields, indented below its name.
                self.stdout.write(f"{key}\n")
                inner = max(len(str(k)) for k in value)
                for sub, subvalue in value.items():
                    self.stdout.write(f"  {str(sub).ljust(inner)}  {format_value(subvalue)}\n")
                continue
            self.stdout.write(f"{key.ljust(width)}  {format_value(value)}\n")

    def stream_line(self, obj: Any) -> None:
        """One item of a live stream (``events --follow``), flushed at once: with --json a compact
        JSON object per line (not wrapped in ``{"data": ...}``), else the text as given."""
        if self.json_mode:
            line = json.dumps(obj, default=str, ensure_ascii=False, separators=(",", ":"))
        else:
            line = str(obj)
        self.stdout.write(line + "\n")
        self.stdout.flush()
        self.streaming = True

    def text(self, text: str) -> None:
        """Human output on stdout (not in --json mode, where stdout is only JSON)."""
        if not self.json_mode:
            self.stdout.write(text + "\n")

    def progress(self, label: str, total: int) -> Any:
        """A transient progress bar on stderr (a terminal only; not with --json): a context manager whose
        value has ``advance(n=1)``; elsewhere the same object that does nothing."""
        if self.json_mode or not getattr(self.stderr, "isatty", lambda: False)():
            return _NoProgress()
        return _Progress(self.stderr, label, total)

    def live(self) -> Any:
        """A live key/value table on stderr, redrawn in place (a terminal only; not with --json): a context
        manager whose value has ``update(rows)`` and ``active``; elsewhere one that does nothing."""
        if self.json_mode or not getattr(self.stderr, "isatty", lambda: False)():
            return _NoLive()
        return _Live(self.stderr)

    def csv(self, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
        """Rows as CSV on stdout: a header line, then one line per row (None as an empty field)."""
        import csv

        writer = csv.writer(self.stdout, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
        self.stdout.flush()

    # -- messages -------------------------------------------------------------------------------
    def info(self, text: str) -> None:
        """A note for people, on stderr so that stdout stays clean for pipes."""
        if not self.json_mode:
            self.stderr.write(text + "\n")

    def success(self, text: str) -> None:
        if self.json_mode:
            return
        if getattr(self.stderr, "isatty", lambda: False)():
            self._console(err=True).print(f"[green]✓[/green] {text}")
        else:
            self.stderr.write(text + "\n")

    def warn(self, text: str) -> None:
        self.stderr.write(f"warning: {text}\n")

    def debug(self, text: str) -> None:
        if self.verbose:
            self.stderr.write(text + "\n")

    def error(self, err: IotcliError) -> None:
        if self.json_mode:
            if self.streaming:
                # After JSON lines, the error is one more line (line-by-line readers such as jq -c see it).
                self.stream_line({"error": err.to_dict()})
            else:
                self.json({"error": err.to_dict()})
            return
        line = "error: " + err.message.replace("\r", "\\r").replace("\n", "\\n")  # one line, always
        self.stderr.write(line + "\n")
        if err.hint:
            self.stderr.write(f"hint: {err.hint}\n")
        self.stderr.flush()


def get_path(row: dict[str, Any], key: str) -> Any:
    """``a.b`` reads nested keys, so a column can show ``connection.active``."""
    value: Any = row
    for part in key.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def format_value(value: Any) -> str:
    """A value for people: empty and null look the same (``-``)."""
    if value is None or value == "" or value == [] or value == {}:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def ms_to_iso(ms: Any) -> str | None:
    """Epoch milliseconds -> local ISO 8601 with its offset (``2026-01-31T13:00:00.123+01:00``; ``Z`` when
    local time is UTC); None for anything that is not such a time."""
    if isinstance(ms, bool) or not isinstance(ms, int | float):
        return None
    try:
        stamp = datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone()
    except (OverflowError, OSError, ValueError):
        return None
    offset = stamp.utcoffset()
    if offset is None or not offset:
        zone = "Z"
    else:
        text = stamp.strftime("%z")  # +0100
        zone = f"{text[:3]}:{text[3:5]}"
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}{zone}"


def seconds_to_iso(seconds: Any) -> str | None:
    """Epoch seconds (a float, as the emulator clock gives them) -> the same local ISO 8601."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return None
    return ms_to_iso(seconds * 1000)


class _NoProgress:
    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def advance(self, n: int = 1) -> None:
        return None

    def note(self, text: str) -> bool:
        """Show a line above the bar; False when there is no bar (the caller prints it as usual)."""
        return False


class _Progress(_NoProgress):
    def __init__(self, stream: IO[str], label: str, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn(label),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(file=stream),
            transient=True,
        )
        self._task = self._bar.add_task(label, total=total)

    def __enter__(self) -> _Progress:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def advance(self, n: int = 1) -> None:
        self._bar.advance(self._task, n)

    def note(self, text: str) -> bool:
        self._bar.console.print(text, markup=False, highlight=False)
        return True


class _NoLive:
    active = False

    def __enter__(self) -> _NoLive:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, rows: dict[str, str]) -> None:
        return None


class _Live(_NoLive):
    active = True

    def __init__(self, stream: IO[str]) -> None:
        from rich.console import Console
        from rich.live import Live

        self._live = Live(console=Console(file=stream), transient=True, auto_refresh=False)

    def __enter__(self) -> _Live:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.__exit__(None, None, None)

    def update(self, rows: dict[str, str]) -> None:
        from rich.table import Table

        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_column(style="bold")
        table.add_column()
        for key, value in rows.items():
            table.add_row(key, value)
        self._live.update(table, refresh=True)
