"""``iotcli bucket export``: through the server's own export files, and the CSV of a page-by-page read.

``POST /v1/users/{user}/buckets/{bucket}/exports`` asks for a file (CSV, or JSON for the JSON-lines
output), ``GET .../exports/{file}`` downloads it, then the export is deleted again. A real server makes
the file in the background, so the download is retried while it answers 404. A server without the
export routes (404/405 on the POST) gets the page-by-page read instead (``None`` here).
"""

from __future__ import annotations

import contextlib
import csv
import json
import tempfile
import time
from typing import IO, TYPE_CHECKING, Any

from iotcli.cli.resources import MAX_ITEMS
from iotcli.errors import ApiError, IotcliError

if TYPE_CHECKING:
    from iotcli.cli.output import Output
    from iotcli.client.api import ApiClient

#: How long a real server may take to make the file.
WAIT_SECONDS = 60.0
POLL_SECONDS = 1.0


def via_exports(
    api: ApiClient,
    bucket: str,
    fmt: str,
    min_ts: int | None,
    max_ts: int | None,
    target: IO[str],
    *,
    wait: float = WAIT_SECONDS,
) -> int | None:
    """Write the export to ``target`` (``fmt`` csv or jsonl); the number of records, or None when the
    server has no export routes."""
    try:
        made = api.create_export(
            bucket,
            data_type="csv" if fmt == "csv" else "json",
            timestamp_format="milliseconds",
            min_ts=min_ts,
            max_ts=max_ts,
        )
    except ApiError as exc:
        if exc.status in (404, 405, 501):
            return None  # no export route (or no bucket: the page-by-page read says which)
        raise
    file = made.get("file") if isinstance(made, dict) else None
    if not isinstance(file, str) or not file:
        return None
    content = _download(api, bucket, file, wait)
    with contextlib.suppress(IotcliError):  # else the file stays listed; the export itself is done
        api.delete_export(bucket, file)
    text = content.decode("utf-8")
    if fmt == "csv":
        target.write(text)
        records = made.get("records")
        return records if isinstance(records, int) else max(len(text.splitlines()) - 1, 0)
    data: Any = json.loads(text) if text.strip() else []
    rows = data if isinstance(data, list) else [data]
    for rec in rows:
        target.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
    return len(rows)


def export_records(
    api: ApiClient,
    out: Output,
    bucket: str,
    fmt: str,
    min_ts: int | None,
    max_ts: int | None,
    target: IO[str],
    *,
    page_size: int | None = None,
) -> int:
    """Write every record of ``bucket`` in the window to ``target`` (``fmt`` jsonl or csv): through the
    server's export file unless ``page_size`` asks for the page-by-page read (also the fallback when
    the server has none). A count of records on a terminal's stderr as it goes; the number written."""
    err = out.stderr
    progress = bool(getattr(err, "isatty", lambda: False)()) and not out.json_mode
    count = 0
    fields: dict[str, None] = {}
    has_scalar = False
    # CSV needs the union of fields before the first row: spool the records, then write.
    spool = tempfile.TemporaryFile("w+", encoding="utf-8") if fmt == "csv" else None  # noqa: SIM115
    sink = spool if spool is not None else target
    exported: int | None = None
    try:
        if page_size is None:
            exported = via_exports(api, bucket, fmt, min_ts, max_ts, target)
        pages = (
            ()
            if exported is not None
            else api.iter_bucket(bucket, min_ts=min_ts, max_ts=max_ts, page_size=page_size or MAX_ITEMS)
        )
        count = exported or 0
        for page in pages:
            for rec in page:
                sink.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
                val = rec.get("val")
                if isinstance(val, dict):
                    for key in val:
                        fields.setdefault(key, None)
                else:
                    has_scalar = True
            count += len(page)
            if progress:
                err.write(f"\rexported {count} records")
                err.flush()
        if spool is not None and exported is None:
            write_csv(spool, fields, has_scalar, target)
    except IotcliError:
        if progress:
            err.write("\n")
        raise
    finally:
        if spool is not None:
            spool.close()
    if progress:
        err.write("\n")
    return count


def _download(api: ApiClient, bucket: str, file: str, wait: float) -> bytes:
    deadline = time.monotonic() + wait
    while True:
        try:
            return api.download_export(bucket, file)
        except ApiError as exc:
            if exc.status != 404 or time.monotonic() >= deadline:
                raise
        time.sleep(POLL_SECONDS)


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def write_csv(spool: IO[str], fields: dict[str, None], has_scalar: bool, out: IO[str]) -> None:
    """Second pass over the spooled JSON lines: header = ts + the union of fields."""
    header = ["ts", *fields] + (["val"] if has_scalar else [])
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    spool.seek(0)
    for line in spool:
        rec = json.loads(line)
        val = rec.get("val")
        row = [csv_cell(rec.get("ts"))]
        row += [csv_cell(val.get(k)) if isinstance(val, dict) else "" for k in fields]
        if has_scalar:
            row.append("" if isinstance(val, dict) else csv_cell(val))
        writer.writerow(row)
