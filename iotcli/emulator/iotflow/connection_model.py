"""An HTTP connection: its states, the stored model and its API view (``ConnectionService`` owns them).

Connection states are the real ones [source: actility/tpx-iot-flow-doc,
docs/Getting_Started/Setting_Up_A_Connection_instance/About_connections.md]: ``OPENING``, ``OPENED``,
``CLOSED``, ``AUTHENTICATING``, ``AUTHENTICATION_FAILED``, ``UNREACHABLE``, ``DEACTIVATED``.

- A new, re-activated or replaced connection starts ``CLOSED``, turns ``OPENING`` after
  ``STARTUP_CLOSED`` and ``OPENED`` after ``STARTUP_OPENING`` more emulated seconds (the page: "the
  connection can remain on CLOSED state during a short period before changing to OPENING") [source;
  the durations are chosen]. An HTTP connection has no link to set up, so a message that is due
  while it starts opens it at once [chosen]: the first uplink is never delayed.
- ``CLOSED`` with a reason: the destination could not be reached (or, with ``--strict-mode
  reconnect``, refused a message); reconnect attempts follow ``reconnectStrategy`` and uplinks wait, in
  order [source: docs/Connector/HTTP/README.md "the connection is CLOSED and the connection retry
  strategy is applied"].
- ``DEACTIVATED``: ``active: false``; nothing is forwarded.
- ``AUTHENTICATING``, ``AUTHENTICATION_FAILED`` and ``UNREACHABLE`` (the bridge hosting the
  connection is unreachable) belong to connectors that log in, or to the platform's own outages: the
  HTTP connector of the emulator never enters them [chosen].

Ids have the documented form, a number as a string (``"id": "8"``, Creating_a_connection_instance_
using_the_API.md), separate from the downlink UUID of ``downlinkUrl`` (``/iot-flow/downlinkMessages/
<DownlinkUUID>``, docs/Other/TPX_IOT_FLOW_17X/README.md). Connections stored by an earlier version keep
their 32-hex id, and their downlink UUID is that id's dashed form (migration 2).

"""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from iotcli.emulator.iotflow.connection_secrets import mask, open_as_key
from iotcli.emulator.iotflow.connector_schema import CONNECTOR_ID
from iotcli.models.lorawan import downlink_url

OPENING, OPENED, CLOSED = "OPENING", "OPENED", "CLOSED"
AUTHENTICATING, AUTHENTICATION_FAILED = "AUTHENTICATING", "AUTHENTICATION_FAILED"
UNREACHABLE, DEACTIVATED = "UNREACHABLE", "DEACTIVATED"
STATES = (OPENING, OPENED, CLOSED, AUTHENTICATING, AUTHENTICATION_FAILED, UNREACHABLE, DEACTIVATED)

#: Emulated seconds a starting connection stays CLOSED, then OPENING [chosen].
STARTUP_CLOSED = 0.5
STARTUP_OPENING = 0.5
#: ``state_reason`` of a connection that is starting (CLOSED or OPENING on its way to OPENED).
STARTING = "starting"
#: Waiting messages are kept this long [source: 24 h retention].
RETENTION = 86400.0


def iso_time(ts: float) -> str:
    """ISO 8601 with milliseconds and a numeric offset, as IoT Flow messages write ``Time``."""
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+00:00"


@dataclass
class Connection:
    id: str
    user: str
    name: str
    active: bool
    configuration: dict[str, Any]
    state: str
    startup_time: float
    created: float
    modified: float
    connector_id: str = CONNECTOR_ID
    alarms: Any = None
    state_reason: str | None = None
    closed_at: float | None = None
    #: The UUID of ``downlinkUrl`` (dashed, lower case).
    downlink_uuid: str = ""
    #: Top-level fields stored as given (``brand``, ``contentType``, keys no document knows).
    top_level: dict[str, Any] = field(default_factory=dict)
    #: In memory only: after a reconnect, deliveries up to this id are sent one at a time (in order).
    drain_upto: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def uuid(self) -> str:
        """The dashed UUID used in ``downlinkUrl``."""
        return self.downlink_uuid

    @property
    def reconnect_strategy(self) -> str:
        """``reconnectStrategy`` (``NORMAL`` when not set)."""
        return str(self.configuration.get("reconnectStrategy") or "NORMAL")

    @property
    def strict(self) -> bool:
        return bool(self.configuration.get("strictMode"))

    @property
    def starting(self) -> bool:
        """Started (created, re-activated, replaced) and not OPENED yet."""
        return self.active and self.state in (CLOSED, OPENING) and self.state_reason == STARTING

    def to_api(self, base_url: str | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "connectorId": self.connector_id,
            "name": self.name,
            "active": self.active,
            "startupTime": iso_time(self.startup_time),
            "state": self.state,
            "configuration": mask(self.configuration),
        }
        if self.alarms is not None:
            data["alarms"] = self.alarms
        for key, value in self.top_level.items():
            data.setdefault(key, value)
        if base_url is not None:
            data["downlinkUrl"] = downlink_url(base_url, self.downlink_uuid)
        return data

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Connection:
        return cls(
            id=row["id"],
            user=row["user"],
            name=row["name"],
            active=bool(row["active"]),
            configuration=open_as_key(json.loads(row["configuration"])),
            state=row["state"],
            startup_time=row["startup_time"] / 1000,
            created=row["created"] / 1000,
            modified=row["modified"] / 1000,
            connector_id=row["connector_id"],
            alarms=None if row["alarms"] is None else json.loads(row["alarms"]),
            state_reason=row["state_reason"],
            closed_at=row["closed_at"],
            downlink_uuid=row["downlink_uuid"] or "",
            top_level=json.loads(row["top_level"]) if row["top_level"] else {},
        )


def normalize_connection_id(raw: str) -> str | None:
    """A 32-hex id (an earlier version's form) from itself or its dashed UUID form; None otherwise."""
    try:
        return uuid.UUID(raw).hex if len(raw) in (32, 36) else None
    except ValueError:
        return None


def dashed_uuid(raw: str) -> str | None:
    """The dashed lower-case form of a UUID given with or without dashes; None if it is not one."""
    try:
        return str(uuid.UUID(raw)) if len(raw) in (32, 36) else None
    except ValueError:
        return None


#: Unknown keys named in a warning, and the length of each name shown [chosen: a body full of junk
#: keys must not make the answer's headers or the journal grow without bound].
MAX_REPORTED_KEYS = 20
MAX_KEY_LENGTH = 128


def reported_keys(keys: list[str]) -> list[str]:
    """The unknown keys a warning names: the first ``MAX_REPORTED_KEYS``, each cut to ``MAX_KEY_LENGTH``."""
    return [k if len(k) <= MAX_KEY_LENGTH else k[:MAX_KEY_LENGTH] + "..." for k in keys[:MAX_REPORTED_KEYS]]


def unknown_keys_message(keys: list[str]) -> str:
    names = ", ".join(f"'{k}'" for k in reported_keys(keys))
    more = f" and {len(keys) - MAX_REPORTED_KEYS} more" if len(keys) > MAX_REPORTED_KEYS else ""
    return f"no document knows {names}{more}: stored and echoed as given"
