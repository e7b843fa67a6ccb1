"""A recorded sink request as the API shows it (secret header and query values masked unless asked)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any
from urllib.parse import parse_qsl

from iotcli.emulator import jsonpolicy
from iotcli.models.headers import is_secret_header

MASK = "*****"


def encode_body(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


def request_to_dict(row: sqlite3.Row, secrets: bool = False) -> dict[str, Any]:
    headers: dict[str, str] = {}
    for key, value in json.loads(row["headers"]):
        shown = value if secrets or not is_secret_header(key) else MASK
        headers[key] = f"{headers[key]}, {shown}" if key in headers else shown
    query: dict[str, Any] = {}
    for key, value in parse_qsl(row["query"], keep_blank_values=True):
        shown = value if secrets or not is_secret_header(key) else MASK
        if key in query:
            previous = query[key]
            query[key] = [*previous, shown] if isinstance(previous, list) else [previous, shown]
        else:
            query[key] = shown
    body = row["body"]
    try:
        # The edge policy's decoder: a body with 1e400 or a lone surrogate is shown as text only.
        decoded = jsonpolicy.decode(body) if body else None
    except (ValueError, TypeError):
        decoded = None
    return {
        "id": row["id"],
        "sink": row["sink"],
        "ts": row["ts"],
        "method": row["method"],
        "path": row["path"] or "/",
        "query": query,
        "headers": headers,
        "body": body,
        "json": decoded,
        "size": row["size"],
        "answer": json.loads(row["answer"]),
    }
