"""``iotcli bucket export`` through the server's own export files.

``POST /v1/users/{user}/buckets/{bucket}/exports`` asks for a file (CSV, or JSON for the JSON-lines
output), ``GET .../exports/{file}`` downloads it, then the export is deleted again. A real server makes
the file in the background, so the download is retried while it answers 404. A server without the
export routes (404/405 on the POST) gets the page-by-page read instead (``None`` here).
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import IO, TYPE_CHECKING, Any

from iotcli.errors import ApiError, IotcliError

if TYPE_CHECKING:
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


def _download(api: ApiClient, bucket: str, file: str, wait: float) -> bytes:
    deadline = time.monotonic() + wait
    while True:
        try:
            return api.download_export(bucket, file)
        except ApiError as exc:
            if exc.status != 404 or time.monotonic() >= deadline:
                raise
        time.sleep(POLL_SECONDS)
