"""What a plan is made of: one ``Change`` per thing on the server, and how a desired entry is compared
with what the server holds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from iotcli.errors import ApiError
from iotcli.provision.envfile import MASKED


@dataclass
class Change:
    kind: str  # sink, bucket, endpoint, device, callback, property, token, connection
    id: str
    action: str  # create, update, unchanged, delete
    fields: list[str] = field(default_factory=list)
    run: Callable[[], Any] | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "action": self.action, "fields": self.fields}

    def describe(self) -> str:
        extra = f" ({', '.join(self.fields)})" if self.fields and self.action == "update" else ""
        return f"{self.action:<9} {self.kind} {self.id}{extra}"


@dataclass
class Plan:
    changes: list[Change]

    @property
    def pending(self) -> list[Change]:
        return [c for c in self.changes if c.action != "unchanged"]

    def summary(self) -> dict[str, int]:
        counts = {"create": 0, "update": 0, "delete": 0, "unchanged": 0}
        for change in self.changes:
            counts[change.action] += 1
        return counts


def subset_differs(desired: Any, current: Any) -> bool:
    """Does ``current`` differ from ``desired`` in what ``desired`` names? (tables compare key by key;
    a masked secret on the server is taken as equal: it cannot be compared)."""
    if isinstance(desired, dict):
        if not isinstance(current, dict):
            return True
        return any(subset_differs(v, current.get(k)) for k, v in desired.items())
    if current == MASKED and isinstance(desired, str):
        return False
    return bool(desired != current)


def changed_fields(desired: dict[str, Any], current: dict[str, Any]) -> list[str]:
    return [k for k, v in desired.items() if subset_differs(v, current.get(k))]


def absent(exc: ApiError) -> bool:
    return exc.status in (404, 405)
