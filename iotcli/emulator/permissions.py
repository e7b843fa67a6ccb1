"""What a user access token may do: its ``allow``/``deny`` permissions checked against the action a request is.

A permission is ``{resource type: {resource name: actions}}`` as in the real server's schema
(``#/components/schemas/permission``): ``{"*": {"*": "*"}}`` is admin access; ``{"Bucket": {"b1":
["ReadBucket"]}}`` reads one bucket [source: the OpenAPI's Token_Create examples]. Action names are the
operation summaries of the real OpenAPI (``ReadBucket``, ``ListDevices``, ``CallDeviceCallback``...), which
are the names thinger-io/Docs ``features/access-tokens.md`` lists; the resource type is the operation's
tag in the singular (``Buckets`` -> ``Bucket``) and the resource name is that path parameter
(``{bucket}``). So the action of every route comes from one table (``ActionMap``), never per route.

Rules [chosen where the platform does not say]:
- ``deny`` wins over ``allow``.
- ``*`` in a type or name key matches any; ``*`` inside an action (``Read*``) matches any run of characters.
- Actions on a collection (``ListBuckets``, ``CreateDevice``) need a ``*`` name key: ``{"Bucket": {"*":
  ["ListBuckets"]}}``; a grant on one bucket does not list the others.
- ``name@user`` name keys name a resource of that user (the emulator has one account).
- An object in an action list (``{"AccessDeviceResources": [...]}`` with sub-resources) grants its keys.
- A route the real API does not have (``/_emulator/...``, ``/iot-flow/...``) is open to admin tokens only.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

#: Tags whose singular is not the tag minus its final 's'.
_SINGULAR = {"Properties": "Property", "Server": "Server", "Authentication": "Authentication"}


@dataclass(frozen=True)
class Action:
    """One thing a request does: ``action`` on the resource ``name`` (None: the collection) of ``resource``."""

    resource: str
    name: str | None
    action: str

    def describe(self) -> str:
        target = f"{self.resource} '{self.name}'" if self.name is not None else f"{self.resource} (all)"
        return f"{self.action} on {target}"


def _actions_of(spec: Any) -> list[str]:
    if isinstance(spec, str):
        return [spec]
    out: list[str] = []
    if isinstance(spec, list):
        for item in spec:
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, dict):
                out.extend(str(k) for k in item)
    return out


def _name_matches(key: str, name: str | None, user: str) -> bool:
    if key == "*":
        return True
    if name is None:
        return False
    base, _, owner = key.partition("@")
    return base == name and (not owner or owner == user)


def _grants(rules: Any, act: Action, user: str) -> bool:
    if not isinstance(rules, dict):
        return False
    for rtype, names in rules.items():
        if rtype not in ("*", act.resource) or not isinstance(names, dict):
            continue
        for key, spec in names.items():
            if _name_matches(str(key), act.name, user) and any(
                fnmatchcase(act.action, pattern) for pattern in _actions_of(spec)
            ):
                return True
    return False


@dataclass(frozen=True)
class Grant:
    """The permissions of one user access token."""

    allow: Any
    deny: Any = None

    @property
    def is_admin(self) -> bool:
        """``{"*": {"*": "*"}}`` (literally) in allow and nothing denied: the token acts as the account."""
        names = self.allow.get("*") if isinstance(self.allow, dict) else None
        admin = isinstance(names, dict) and "*" in _actions_of(names.get("*"))
        return admin and not self.deny

    def permits(self, act: Action | None, user: str) -> bool:
        if act is None:
            return self.is_admin
        return _grants(self.allow, act, user) and not _grants(self.deny, act, user)


class ActionMap:
    """``(method, path) -> Action`` for the routes of the real API, built once from its OpenAPI document."""

    def __init__(self) -> None:
        # (method, number of segments) -> [(literal count, segments, resource, name param, action)]
        self._index: dict[tuple[str, int], list[tuple[int, list[str], str, str | None, str]]] = {}

    def add(
        self, method: str, template: str, resource: str, action: str, name_param: str | None = None
    ) -> None:
        segments = template.split("/")
        for seg in segments:
            if ("{" in seg or "}" in seg) and not (
                seg.startswith("{") and seg.endswith("}") and seg.count("{") == 1
            ):
                return  # '{plugin}{path}', 'files{path}': catch-alls of routes the emulator does not serve
        if name_param is None and f"{{{resource.lower()}}}" in segments:
            name_param = resource.lower()
        literals = sum(1 for s in segments if not s.startswith("{"))
        bucket = self._index.setdefault((method.upper(), len(segments)), [])
        bucket.append((literals, segments, resource, name_param, action))
        bucket.sort(key=lambda entry: -entry[0])

    @classmethod
    def from_openapi(cls, document: dict[str, Any]) -> ActionMap:
        table = cls()
        for template, operations in document.get("paths", {}).items():
            for method, op in operations.items():
                if method == "parameters" or not isinstance(op, dict) or not op.get("summary"):
                    continue
                tag = (op.get("tags") or ["Server"])[0]
                resource = _SINGULAR.get(tag, tag[:-1] if tag.endswith("s") else tag)
                table.add(method, template, resource, str(op["summary"]))
        return table

    def resolve(self, method: str, path: str) -> Action | None:
        parts = path.split("/")
        for _literals, segments, resource, name_param, action in self._index.get(
            (method.upper(), len(parts)), []
        ):
            name: str | None = None
            for seg, part in zip(segments, parts, strict=True):
                if seg.startswith("{"):
                    if not part:
                        break
                    if seg[1:-1] == name_param:
                        name = part
                elif seg != part:
                    break
            else:
                return Action(resource, name, action)
        return None
