"""Bucket export files: a bucket's records as CSV, JSON or ARFF (``render``)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

#: data_type -> (file extension, media type)
FORMATS = {"csv": ("csv", "text/csv"), "json": ("json", "application/json"), "arff": ("arff", "text/plain")}


def format_ts(ts: int, fmt: str) -> int | float | str:
    """A record time as ``timestamp_format`` asks: milliseconds (default), seconds or ISO 8601 (UTC)."""
    if fmt == "seconds":
        return ts // 1000 if ts % 1000 == 0 else ts / 1000
    if fmt == "iso":
        return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return ts


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _columns(rows: list[tuple[int, Any]]) -> tuple[list[str], bool]:
    """The union of the records' fields in order of first appearance; and whether any value is not an object."""
    fields: dict[str, None] = {}
    scalar = False
    for _ts, val in rows:
        if isinstance(val, dict):
            for key in val:
                fields.setdefault(key, None)
        else:
            scalar = True
    return list(fields), scalar


def render(rows: list[tuple[int, Any]], data_type: str, ts_format: str, bucket: str) -> bytes:
    """The export file. CSV: a ``ts`` column, one column per field (nested values as JSON), ``val`` for
    records that are not objects; JSON: an array of ``{"ts", "val"}``; ARFF: the same columns [chosen]."""
    if data_type == "json":
        data = [{"ts": format_ts(ts, ts_format), "val": val} for ts, val in rows]
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    fields, scalar = _columns(rows)
    if data_type == "arff":
        return _arff(rows, fields, scalar, ts_format, bucket).encode("utf-8")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["ts", *fields] + (["val"] if scalar else []))
    for ts, val in rows:
        row = [_cell(format_ts(ts, ts_format))]
        row += [_cell(val.get(k)) if isinstance(val, dict) else "" for k in fields]
        if scalar:
            row.append("" if isinstance(val, dict) else _cell(val))
        writer.writerow(row)
    return out.getvalue().encode("utf-8")


def _arff(rows: list[tuple[int, Any]], fields: list[str], scalar: bool, ts_format: str, bucket: str) -> str:
    def number(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)

    def quote(text: str) -> str:
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"

    columns = [(k, [v.get(k) if isinstance(v, dict) else None for _t, v in rows]) for k in fields]
    if scalar:
        columns.append(("val", [None if isinstance(v, dict) else v for _t, v in rows]))
    lines = [f"@RELATION {quote(bucket)}", ""]
    lines.append(
        "@ATTRIBUTE ts DATE \"yyyy-MM-dd'T'HH:mm:ss.SSS'Z'\""
        if ts_format == "iso"
        else "@ATTRIBUTE ts NUMERIC"
    )
    numeric = []
    for name, values in columns:
        is_num = all(number(v) for v in values if v is not None)
        numeric.append(is_num)
        lines.append(f"@ATTRIBUTE {quote(name)} {'NUMERIC' if is_num else 'STRING'}")
    lines += ["", "@DATA"]
    for i, (ts, _val) in enumerate(rows):
        stamp = format_ts(ts, ts_format)
        cells = [quote(stamp) if isinstance(stamp, str) else str(stamp)]
        for (_name, values), is_num in zip(columns, numeric, strict=True):
            v = values[i]
            cells.append("?" if v is None else str(v) if is_num else quote(_cell(v)))
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"
