"""Outbox rows and their SQL: written in the same transaction as the ingress that caused them."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

# Which header values never reach the journal in clear: a wire rule (iotcli.models.headers), kept
# importable from here.
from iotcli.models.headers import SECRET_HEADERS as SECRET_HEADERS
from iotcli.models.headers import SECRET_NAME_PARTS as SECRET_NAME_PARTS
from iotcli.models.headers import is_secret_header as is_secret_header
from iotcli.models.masking import mask_url

#: Statuses a delivery can be in. ``pending`` is the only one the worker acts on.
PENDING, DELIVERED, DROPPED, FAILED, EXPIRED = "pending", "delivered", "dropped", "failed", "expired"
FINAL = {DELIVERED, DROPPED, FAILED, EXPIRED}

#: Bodies kept in the journal are cut at this many characters.
MAX_JOURNAL_BODY = 64 * 1024


@dataclass
class Delivery:
    id: int
    kind: str
    status: str
    message: dict[str, Any]
    attempts: int
    next_at: float
    created_at: float
    user: str | None = None
    device: str | None = None
    endpoint: str | None = None
    connection: str | None = None
    reason: str | None = None
    #: ``message["body"]`` as compact JSON when the ingress already encoded it (kept in memory only):
    #: the request body is then spliced from it instead of encoding the message again.
    body_json: str | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Delivery:
        return cls(
            id=row["id"],
            kind=row["kind"],
            status=row["status"],
            message=json.loads(row["message"]),
            attempts=row["attempts"],
            next_at=row["next_at"],
            created_at=row["created_at"],
            user=row["user"],
            device=row["device"],
            endpoint=row["endpoint"],
            connection=row["connection"],
            reason=row["reason"],
        )

    @property
    def lane(self) -> str | None:
        return self.connection


@dataclass
class OutboundRequest:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)
    proxy: str | None = None  # http://user:pass@host:port
    #: Send a plain http:// request without a proxy through the lean client (high-rate forwards).
    lean: bool = False


@dataclass
class AttemptResult:
    request: OutboundRequest
    status: int | None  # None when no answer arrived
    body: str | None
    latency_ms: float
    error: str | None = None
    unreachable: bool = False  # connect error or timeout (as opposed to an HTTP answer)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Decision:
    """What happens to a delivery after an attempt (or instead of one)."""

    status: str
    next_at: float | None = None  # for pending: when to try again
    reason: str | None = None
    count_attempt: bool = True
    #: A new stored message (e.g. a policy's own counters), written with the decision.
    message: dict[str, Any] | None = None
    #: Events ``(kind, data)`` staged in the same transaction as the decision, published after it.
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def enqueue(
    conn: sqlite3.Connection,
    *,
    kind: str,
    message: dict[str, Any],
    now: float,
    user: str | None = None,
    device: str | None = None,
    endpoint: str | None = None,
    connection: str | None = None,
    due: float | None = None,
    message_json: str | None = None,
) -> int:
    """Add a pending delivery inside the caller's transaction; returns its id.

    ``message_json``: ``message`` already encoded (one encoding for an uplink and all its connections).
    """
    cur = conn.execute(
        "INSERT INTO deliveries(kind, user, device, endpoint, connection, status, message, next_at, created_at, "
        "updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            kind,
            user,
            device,
            endpoint,
            connection,
            PENDING,
            json.dumps(message) if message_json is None else message_json,
            now if due is None else due,
            now,
            now,
        ),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def mask_headers(headers: dict[str, str]) -> dict[str, str]:
    """Headers as the journal shows them: secret values masked, keeping the scheme word."""
    masked: dict[str, str] = {}
    for key, value in headers.items():
        if is_secret_header(key):
            scheme, sep, _rest = value.partition(" ")
            masked[key] = (
                f"{scheme} *****" if sep and scheme.lower() in {"bearer", "basic", "token"} else "*****"
            )
        else:
            masked[key] = value
    return masked


def clip(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_JOURNAL_BODY:
        return text
    return text[:MAX_JOURNAL_BODY] + f"... [{len(text) - MAX_JOURNAL_BODY} more characters]"


def record_attempt(conn: sqlite3.Connection, delivery: Delivery, result: AttemptResult, ts: float) -> int:
    n = delivery.attempts + 1
    req = result.request
    url = req.url
    if req.params:
        from urllib.parse import urlencode

        url = url + ("&" if "?" in url else "?") + urlencode(req.params)
    url = mask_url(url)  # no user:password@ or ?api_key= in the journal
    conn.execute(
        "INSERT INTO delivery_attempts(delivery_id, n, ts, method, url, headers, body, status, response_body, "
        "latency_ms, error) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (
            delivery.id,
            n,
            ts,
            req.method,
            url,
            json.dumps(mask_headers(req.headers)),
            clip(req.body.decode("utf-8", "replace")),
            result.status,
            clip(result.body),
            round(result.latency_ms, 3),
            result.error,
        ),
    )
    return n


def apply_decision(conn: sqlite3.Connection, delivery: Delivery, decision: Decision, now: float) -> None:
    attempts = delivery.attempts + (1 if decision.count_attempt else 0)
    conn.execute(
        "UPDATE deliveries SET status = ?, attempts = ?, next_at = ?, updated_at = ?, reason = ? WHERE id = ?",
        (
            decision.status,
            attempts,
            decision.next_at if decision.next_at is not None else now,
            now,
            decision.reason,
            delivery.id,
        ),
    )
    if decision.message is not None:
        conn.execute(
            "UPDATE deliveries SET message = ? WHERE id = ?", (json.dumps(decision.message), delivery.id)
        )


def delivery_to_dict(row: sqlite3.Row, attempts: list[sqlite3.Row] | None = None) -> dict[str, Any]:
    """The journal's view of a delivery (``/_emulator/deliveries``)."""
    data: dict[str, Any] = {
        "id": str(row["id"]),
        "kind": row["kind"],
        "status": row["status"],
        "user": row["user"],
        "device": row["device"],
        "endpoint": row["endpoint"],
        "connection": row["connection"],
        "attempts": row["attempts"],
        "created": int(row["created_at"] * 1000),
        "updated": int(row["updated_at"] * 1000),
        "next_attempt": int(row["next_at"] * 1000) if row["status"] == PENDING else None,
        "reason": row["reason"],
    }
    if attempts is not None:
        data["attempt_log"] = [
            {
                "n": a["n"],
                "ts": int(a["ts"] * 1000),
                "method": a["method"],
                "url": a["url"],
                "headers": json.loads(a["headers"]),
                "body": a["body"],
                "status": a["status"],
                "response_body": a["response_body"],
                "latency_ms": a["latency_ms"],
                "error": a["error"],
            }
            for a in attempts
        ]
    return data


# -- the journal: outcomes, replays, caps ---------------------------------------------------------


def commit_outcome(
    conn: sqlite3.Connection,
    delivery: Delivery,
    result: AttemptResult | None,
    decision: Decision,
    now: float,
    stage: Callable[[sqlite3.Connection, str, dict[str, Any]], dict[str, Any]],
) -> list[dict[str, Any]]:
    """Record the attempt (if one was made), apply the decision and stage its events; returns them.

    A delivery whose row is gone meanwhile (an emulator reset while its attempt was in flight) has
    nothing left to record: its outcome is dropped with it, not written against a missing row.
    """
    if conn.execute("SELECT 1 FROM deliveries WHERE id = ?", (delivery.id,)).fetchone() is None:
        return []
    if result is not None:
        record_attempt(conn, delivery, result, now)
    apply_decision(conn, delivery, decision, now)
    return [stage(conn, kind, data) for kind, data in decision.events]


def due(conn: sqlite3.Connection, now: float, limit: int) -> tuple[list[sqlite3.Row], float | None]:
    """The oldest ``limit`` pending deliveries due at ``now``, and when the next of the others is due."""
    # The partial index gives pending rows in id order: the first due ones are found without
    # sorting the whole backlog (the planner would rather sort the rows of deliveries_due).
    rows = conn.execute(
        "SELECT * FROM deliveries INDEXED BY deliveries_pending "
        "WHERE status = 'pending' AND next_at <= ? ORDER BY id LIMIT ?",
        (now, limit),
    ).fetchall()
    nxt = conn.execute(
        "SELECT MIN(next_at) FROM deliveries WHERE status = ? AND next_at > ?", (PENDING, now)
    ).fetchone()[0]
    return rows, nxt


def due_count(conn: sqlite3.Connection, now: float) -> int:
    return int(
        conn.execute(
            "SELECT COUNT(*) FROM deliveries WHERE status = ? AND next_at <= ?", (PENDING, now)
        ).fetchone()[0]
    )


def replay(conn: sqlite3.Connection, delivery_id: int, now: float) -> bool:
    """Make a final (failed, dropped, expired) delivery pending again, due ``now``."""
    row = conn.execute("SELECT status FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
    if row is None or row["status"] not in FINAL - {DELIVERED}:
        return False
    conn.execute(
        "UPDATE deliveries SET status = ?, next_at = ?, updated_at = ?, reason = 'replayed' WHERE id = ?",
        (PENDING, now, now, delivery_id),
    )
    return True


def prune(conn: sqlite3.Connection, keep: int, limit: int = 2**62) -> int:
    """Delete the oldest final deliveries beyond ``keep``, at most ``limit`` of them (pending ones are
    never pruned; their attempts go with them)."""
    cur = conn.execute(
        "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries WHERE status != ? "
        "AND id <= (SELECT MAX(id) FROM deliveries) - ? ORDER BY id LIMIT ?)",
        (PENDING, keep, limit),
    )
    return cur.rowcount


#: Deliveries the write-time cap deletes at most per commit (a large excess goes in the pruner's chunks).
CAP_STEP = 256


class JournalCap:
    """Keeps the finished deliveries within ``keep`` as they are written, not only when the pruner runs.

    The rule is the pruner's (``prune``): a finished delivery more than ``keep`` ids behind the newest
    one goes, with its attempts; a pending one never does, whatever its age. ``apply`` runs in the
    transaction that records attempts, the only writes that make deliveries finished at a rate; it
    walks ids upwards from where it stopped (``_floor``), at most ``CAP_STEP`` of them per call, so a
    commit costs one index lookup while the journal is within its cap. A delivery the floor passed
    while it was pending goes when it finishes: ``apply`` is told the ids the transaction finished.
    """

    def __init__(self, keep: int | None) -> None:
        self.keep = keep
        #: Every finished delivery up to this id is deleted (the cap's progress).
        self._floor = 0

    def apply(self, conn: sqlite3.Connection, written: Iterable[int] = ()) -> int:
        """Hold the cap; ``written`` are the deliveries whose outcomes this transaction recorded."""
        keep = self.keep
        if keep is None:
            return 0
        removed = self._advance(conn, keep)
        behind = [i for i in written if i <= self._floor]
        if behind:  # finished after the floor passed them while they were pending
            marks = ",".join("?" * len(behind))
            cur = conn.execute(
                f"DELETE FROM deliveries WHERE id IN ({marks}) AND status != ?", (*behind, PENDING)
            )
            removed += cur.rowcount
        return removed

    def _advance(self, conn: sqlite3.Connection, keep: int) -> int:
        last = conn.execute("SELECT MAX(id) FROM deliveries").fetchone()[0]
        if last is None or last - self._floor <= keep:
            return 0
        if self._floor == 0:  # the first time: from the oldest delivery there is
            oldest = conn.execute("SELECT MIN(id) FROM deliveries").fetchone()[0]
            self._floor = max((oldest or 1) - 1, 0)
            if last - self._floor <= keep:
                return 0
        upto = min(last - keep, self._floor + CAP_STEP)
        cur = conn.execute(
            "DELETE FROM deliveries WHERE id > ? AND id <= ? AND status != ?", (self._floor, upto, PENDING)
        )
        self._floor = upto
        return cur.rowcount
