"""Bucket records: their times, how they are stored and shown, retention; shared by the bucket API
and the callback ingest."""

from __future__ import annotations

import math
import sqlite3
from typing import Any

from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.http import MAX_EPOCH_MS
from iotcli.emulator.thinger.backend.state import BucketInfo, exists, not_found

#: Emulated ms between retention prunes of one bucket on the write path (reads always apply retention).
PRUNE_EVERY_MS = 60_000


def query_ts(raw: str | None) -> int | None:
    """``?ts=``: epoch ms, or None when absent, empty or ``0`` (= now, as the official HTTP-device plugin
    sends [source: thinger-io/plugins http-device/task/app.js]); 400 for anything else."""
    if not raw:
        return None
    try:
        if not (raw.isascii() and raw.isdigit()):  # int() also takes " 5\n", "+5", "5_0", other digits
            raise ValueError(raw)
        ts = int(raw)
    except ValueError:
        raise ApiProblem(400, f"query parameter 'ts' must be epoch milliseconds, got '{raw[:32]}'") from None
    if ts == 0:
        return None
    if not 0 < ts <= MAX_EPOCH_MS:
        raise ApiProblem(
            400, f"query parameter 'ts' must be epoch milliseconds between 1 and {MAX_EPOCH_MS} (0 = now)"
        )
    return ts


def record_ts(payload: dict[str, Any], query_ms: int | None) -> int | None:
    """The explicit record time: payload ``ts`` (epoch ms), else ``?ts=`` (see ``query_ts``) [source];
    None: the server assigns one (see ``RecordTimes``). A payload ``ts`` that is not a positive number
    up to ``MAX_EPOCH_MS`` (year 9999) is kept as data, like any other field.
    """
    value = payload.get("ts")
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 < value <= MAX_EPOCH_MS
    ):
        return int(value)
    return query_ms


class RecordTimes:
    """Record times the server assigns: strictly increasing within a bucket, never on a taken ts [chosen].

    Two readings arriving in the same millisecond would otherwise share a ts, and the second would
    replace the first. Runs inside the store job that writes the record (one writer, so no races).
    Taken times are read a window at a time (one range query per bucket per job, not one per record).
    """

    WINDOW = 1024

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], int] = {}
        #: (user, bucket) -> (low, high, times taken in [low, high)) as read in the running store job.
        self._seen: dict[tuple[str, str], tuple[int, int, set[int]]] = {}

    def begin(self) -> None:
        """A new store job: what was read of the table before may have changed."""
        self._seen.clear()

    def next(
        self, conn: sqlite3.Connection, user: str, bucket: str, now_ms: int, taken: set[int] | None = None
    ) -> int:
        """A free time at or after ``now_ms``, after every time assigned before in this bucket.

        ``taken``: times of this job's records that are not in the table yet.
        """
        key = (user, bucket)
        ts = max(now_ms, self._last.get(key, 0) + 1)
        while True:
            low, high, in_table = self._seen.get(key, (0, 0, set()))
            if not low <= ts < high:
                low, high = ts, ts + self.WINDOW
                rows = conn.execute(
                    "SELECT ts FROM th_bucket_data WHERE user = ? AND bucket = ? AND ts >= ? AND ts < ?",
                    (user, bucket, low, high),
                )
                in_table = {r[0] for r in rows}
                self._seen[key] = (low, high, in_table)
            if ts in in_table or (taken is not None and ts in taken):
                ts += 1
                continue
            break
        self._last[key] = ts
        return ts

    def forget(self, user: str, bucket: str) -> None:
        self._last.pop((user, bucket), None)

    def clear(self) -> None:
        self._last.clear()
        self._seen.clear()


def record_value(val: Any, ts: int) -> Any:
    """A record's value as shown: the stored payload without the ``ts`` that became the record time.

    Records store the payload as sent (one JSON encoding on the hot path); the payload's ``ts``
    is the record time exactly when it is a number that truncates to it, so it is dropped here.
    """
    if isinstance(val, dict):
        own = val.get("ts")
        if (
            isinstance(own, int | float)
            and not isinstance(own, bool)
            and math.isfinite(own)
            and int(own) == ts
        ):
            return {k: v for k, v in val.items() if k != "ts"}
    return val


def check_writable(info: BucketInfo | None, bucket: str) -> BucketInfo:
    if info is None:
        raise not_found("bucket", bucket)
    if not info.writable:
        raise ApiProblem(
            400,
            f"bucket '{bucket}' takes its data from '{info.source}': only 'api' and 'write' buckets take writes",
        )
    if not info.enabled:
        raise ApiProblem(400, f"bucket '{bucket}' is disabled")
    return info


def write_record(
    conn: sqlite3.Connection,
    info: BucketInfo,
    ts: int | None,
    val_json: str,
    now_ms: int,
    times: RecordTimes,
    pruned_at: dict[tuple[str, str], int],
) -> int:
    """Store one record (an explicit ``ts`` replaces; None: the server assigns a free time) and, now
    and then, prune records past the retention. Returns the record's ts."""
    if not exists(conn, "th_buckets", "bucket", info.user, info.bucket):
        raise not_found("bucket", info.bucket)  # deleted since it was looked up
    if ts is None:
        times.begin()
        ts = times.next(conn, info.user, info.bucket, now_ms)
    conn.execute(
        "INSERT OR REPLACE INTO th_bucket_data(user, bucket, ts, val, device) VALUES (?,?,?,?,NULL)",
        (info.user, info.bucket, ts, val_json),
    )
    prune_now_and_then(conn, info, now_ms, pruned_at)
    return ts


def prune_now_and_then(
    conn: sqlite3.Connection, info: BucketInfo, now_ms: int, pruned_at: dict[tuple[str, str], int]
) -> None:
    """Prune the bucket's records past its retention, at most once per ``PRUNE_EVERY_MS`` (write path)."""
    if info.retention_ms is not None:
        key = (info.user, info.bucket)
        if now_ms - pruned_at.get(key, 0) >= PRUNE_EVERY_MS:
            prune(conn, info, now_ms)
            pruned_at[key] = now_ms


def records_in_range(
    user: str, bucket: str, min_ts: int | None, max_ts: int | None, device: str | None = None
) -> tuple[str, list[Any]]:
    """The ``WHERE`` clause (and its arguments) of a bucket's records in ``[min_ts, max_ts]`` (None: no bound),
    optionally only those one device's callback wrote: reads, range deletes and exports share it."""
    sql = "WHERE user = ? AND bucket = ?"
    args: list[Any] = [user, bucket]
    if device is not None:
        sql += " AND device = ?"
        args.append(device)
    if min_ts is not None:
        sql += " AND ts >= ?"
        args.append(min_ts)
    if max_ts is not None:
        sql += " AND ts <= ?"
        args.append(max_ts)
    return sql, args


def prune(conn: sqlite3.Connection, info: BucketInfo, now_ms: int) -> int:
    if info.retention_ms is None:
        return 0
    cur = conn.execute(
        "DELETE FROM th_bucket_data WHERE user = ? AND bucket = ? AND ts < ?",
        (info.user, info.bucket, now_ms - info.retention_ms),
    )
    return cur.rowcount
