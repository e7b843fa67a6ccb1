"""Forwarded bodies as compact JSON, with the uplink encoded once.

The uplink ingress encodes each uplink once (``compact_json``); its outbox rows and the bodies
forwarded to every connection are spliced from that text instead of encoding the uplink again per
connection and per attempt (float formatting makes an uplink's encoding cost as much as its SQL).
"""

from __future__ import annotations

import json
from typing import Any

#: Compact JSON (no spaces), as forwarded bodies are sent. Built once.
compact_json = json.JSONEncoder(separators=(",", ":")).encode


def splice(object_json: str, extra: dict[str, Any]) -> str:
    """``compact_json({**obj, **extra})`` from ``object_json = compact_json(obj)``.

    ``obj`` must be a non-empty object that has none of ``extra``'s keys (the caller checks).
    """
    if not extra:
        return object_json
    return object_json[:-1] + "".join(f",{compact_json(k)}:{compact_json(v)}" for k, v in extra.items()) + "}"
