"""Declarative provisioning: an environment file (TOML) -> a plan -> the server matches the file.

One format for ``iotcli apply``, ``iotcli export`` and ``iotcli emulate --seed`` (docs/apply.md)::

    [sinks.app]
    respond = [503, 200]

    [buckets.readings]
    name = "Readings"
    config = { source = "write" }

    [devices.sensor-1]
    name = "Sensor 1"
    tokens = ["ci"]
    callback = { actions = { write_bucket = "readings" }, properties = { timeout = 10 } }
    properties = { command = { led = true } }

    [connections.my-app]              # connections are matched by name
    configuration = { destinationURL = "sink:app", strictMode = true, headers = { X-Key = "${APP_KEY}" } }

Everything is read and checked before anything changes (``load_env`` then ``plan``: a bad file is an
``EnvFileError`` naming file, line and key; a reference to a bucket, endpoint or sink that neither the
file nor the server has stops the plan too). ``apply_plan`` then makes only the changes the plan lists,
so a second run finds everything ``unchanged``. Works through the API client: the emulator or a
real Thinger-style / IoT Flow-style server. Usable without the CLI.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iotcli.errors import ApiError, UsageError
from iotcli.sinkspec import SCRIPT_KEYS, ScriptError, parse_script

if TYPE_CHECKING:
    from iotcli.client.api import ApiClient

ID = re.compile(r"^[a-zA-Z0-9_-]{1,32}$")
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
SINK_PREFIX = "sink:"
MASKED = "*****"
#: Sections in the order they are applied (sinks first: others point at their URLs).
KINDS = ("sinks", "buckets", "endpoints", "devices", "connections")
DEVICE_TYPES = ("HTTP", "Virtual", "Generic", "MQTT")
CALLBACK_ACTIONS = ("write_bucket", "call_endpoint", "set_property", "send_property")
IOTFLOW_CONNECTOR = "actility-http-iot"

#: Allowed keys of each section's entries and the JSON type each must have.
STR, BOOL, TABLE, LIST, ANY, INT = "string", "boolean", "table", "array", "any", "integer"
FIELDS: dict[str, dict[str, str]] = {
    "devices": {
        "name": STR,
        "description": STR,
        "type": STR,
        "enabled": BOOL,
        "asset_type": STR,
        "asset_group": STR,
        "product": STR,
        "credentials": STR,
        "callback": TABLE,
        "properties": TABLE,
        "tokens": LIST,
    },
    "buckets": {"name": STR, "description": STR, "enabled": BOOL, "config": TABLE, "retention": TABLE},
    "endpoints": {"type": STR, "name": STR, "description": STR, "enabled": BOOL, "config": TABLE},
    "connections": {"connectorId": STR, "active": BOOL, "alarms": ANY, "configuration": TABLE},
    "sinks": dict.fromkeys(SCRIPT_KEYS, ANY),
}


class EnvFileError(UsageError):
    """The environment file cannot be used (exit 2); the message names file, line and key."""


# -- reading and checking ----------------------------------------------------------------------


@dataclass
class EnvFile:
    """A parsed, checked environment file: one dict per section, ``${VAR}`` values filled in."""

    path: str
    text: str
    sections: dict[str, dict[str, dict[str, Any]]]

    def error(self, key: str, problem: str) -> EnvFileError:
        line = locate(self.text, key)
        where = f"{self.path}:{line}" if line else self.path
        return EnvFileError(f"{where}: {key}: {problem}", hint="see docs/apply.md for the file format")

    def names(self, kind: str) -> dict[str, dict[str, Any]]:
        return self.sections.get(kind, {})


def load_env(path: str | Path, environ: Mapping[str, str] | None = None) -> EnvFile:
    """Read and check an environment file; ``${VAR}`` (or ``${VAR:-default}``) come from ``environ``."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise EnvFileError(f"cannot read {name}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise EnvFileError(f"{name} is not UTF-8 text") from None
    return parse_env(text, name, os.environ if environ is None else environ)


def parse_env(text: str, name: str = "<env>", environ: Mapping[str, str] | None = None) -> EnvFile:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EnvFileError(
            f"{name}: not valid TOML: {exc}", hint="see docs/apply.md for the file format"
        ) from None
    env = EnvFile(name, text, {})
    raw = _substitute(raw, env, os.environ if environ is None else environ, "")
    for key, value in raw.items():
        if key == "version":
            if value != 1:
                raise env.error("version", "only version 1 is known")
            continue
        if key not in KINDS:
            raise env.error(key, f"unknown section (known: {', '.join(KINDS)})")
        if not isinstance(value, dict):
            raise env.error(key, f"must be a table of [{key}.NAME] entries")
        for entry, spec in value.items():
            _check_entry(env, key, entry, spec)
        env.sections[key] = value
    return env


def _substitute(value: Any, env: EnvFile, environ: Mapping[str, str], key: str) -> Any:
    if isinstance(value, str):

        def repl(m: re.Match[str]) -> str:
            var, default = m.group(1), m.group(2)
            if var in environ:
                return environ[var]
            if default is not None:
                return default
            raise env.error(key, f"environment variable {var} is not set")

        return ENV_REF.sub(repl, value)
    if isinstance(value, dict):
        return {k: _substitute(v, env, environ, f"{key}.{k}" if key else k) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, env, environ, f"{key}[{i}]") for i, v in enumerate(value)]
    return value


def _type_ok(value: Any, kind: str) -> bool:
    if kind == ANY:
        return True
    if kind == STR:
        return isinstance(value, str)
    if kind == BOOL:
        return isinstance(value, bool)
    if kind == INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == TABLE:
        return isinstance(value, dict)
    return isinstance(value, list)


def _check_entry(env: EnvFile, kind: str, entry: str, spec: Any) -> None:
    where = f"{kind}.{entry}"
    if not isinstance(spec, dict):
        raise env.error(where, "must be a table")
    if kind != "connections" and not ID.match(entry):
        raise env.error(where, "the id must be 1-32 letters, digits, '_' or '-'")
    allowed = FIELDS[kind]
    for key, value in spec.items():
        if key not in allowed:
            raise env.error(f"{where}.{key}", f"unknown key (known: {', '.join(allowed)})")
        if not _type_ok(value, allowed[key]):
            raise env.error(f"{where}.{key}", f"must be a {allowed[key]}")
    if kind == "sinks":
        try:
            parse_script(spec)
        except ScriptError as exc:
            field_name, _sep, problem = str(exc).partition(": ")
            raise env.error(f"{where}.{field_name.split('[')[0]}", problem or str(exc)) from None
    elif kind == "devices":
        _check_device(env, where, spec)
    elif kind == "endpoints":
        url = (spec.get("config") or {}).get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://", SINK_PREFIX)):
            raise env.error(f"{where}.config.url", "required: an http(s):// URL or sink:NAME")
    elif kind == "connections":
        config = spec.get("configuration") or {}
        url = config.get("destinationURL")
        if not isinstance(url, str) or not url.startswith(("http://", "https://", SINK_PREFIX)):
            raise env.error(
                f"{where}.configuration.destinationURL", "required: an http(s):// URL or sink:NAME"
            )
    elif kind == "buckets" and "config" in spec and not isinstance(spec["config"].get("source", ""), str):
        raise env.error(f"{where}.config.source", "must be a string")


def _check_device(env: EnvFile, where: str, spec: dict[str, Any]) -> None:
    if "type" in spec and spec["type"] not in DEVICE_TYPES:
        raise env.error(f"{where}.type", f"must be one of {', '.join(DEVICE_TYPES)}")
    tokens = spec.get("tokens", [])
    if not all(isinstance(t, str) and t for t in tokens) or len(set(tokens)) != len(tokens):
        raise env.error(f"{where}.tokens", "must be a list of distinct token names")
    callback = spec.get("callback")
    if callback is not None:
        unknown = set(callback) - {"actions", "properties"}
        if unknown:
            raise env.error(
                f"{where}.callback.{sorted(unknown)[0]}", "unknown key (known: actions, properties)"
            )
        actions = callback.get("actions", {})
        if not isinstance(actions, dict):
            raise env.error(f"{where}.callback.actions", "must be a table")
        for key, value in actions.items():
            if key not in CALLBACK_ACTIONS:
                raise env.error(
                    f"{where}.callback.actions.{key}",
                    f"unknown action (known: {', '.join(CALLBACK_ACTIONS)})",
                )
            if not isinstance(value, str):
                raise env.error(
                    f"{where}.callback.actions.{key}", "must be a string (a bucket, endpoint or property id)"
                )
        props = callback.get("properties", {})
        if not isinstance(props, dict) or set(props) - {"timeout"}:
            raise env.error(f"{where}.callback.properties", "may only hold timeout (minutes)")
        timeout = props.get("timeout")
        if timeout is not None and (not isinstance(timeout, int) or isinstance(timeout, bool) or timeout < 1):
            raise env.error(f"{where}.callback.properties.timeout", "must be a whole number of minutes >= 1")
    for prop in spec.get("properties", {}):
        if not ID.match(prop):
            raise env.error(f"{where}.properties.{prop}", "the id must be 1-32 letters, digits, '_' or '-'")


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(
    r"^\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*="
)


def _dotted(text: str) -> list[str]:
    parts = re.findall(r"\"([^\"]*)\"|'([^']*)'|([A-Za-z0-9_-]+)", text)
    return [a or b or c for a, b, c in parts]


def locate(text: str, key: str) -> int | None:
    """The line (1-based) where ``key`` (``devices.sensor-1.type``) or its nearest parent is written."""
    wanted = re.sub(r"\[\d+\]", "", key).split(".")
    best: tuple[int, int] | None = None  # (matched parts, line)
    table: list[str] = []
    for n, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line)
        if header:
            table = _dotted(header.group(1))
            path = table
        else:
            m = _KEY.match(line)
            if not m:
                continue
            path = table + _dotted(m.group(1))
        matched = 0
        for a, b in zip(path, wanted, strict=False):
            if a != b:
                break
            matched += 1
        inside = matched == len(path) or matched == len(wanted)  # a parent of the key, or the key's own
        if inside and matched and (best is None or matched > best[0]):
            best = (matched, n)
    return best[1] if best else None


# -- planning ------------------------------------------------------------------------------------


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


def _absent(exc: ApiError) -> bool:
    return exc.status in (404, 405)


class Planner:
    """Reads what the server holds and lists the changes that make it match ``env``."""

    def __init__(self, api: ApiClient, env: EnvFile, *, prune: bool = False) -> None:
        self.api = api
        self.env = env
        self.prune = prune
        self.sink_urls: dict[str, str] = {}
        self.server_buckets: set[str] = set()
        self.server_endpoints: set[str] = set()
        self.created_tokens: dict[str, dict[str, Any]] = {}

    def plan(self) -> Plan:
        changes: list[Change] = []
        for kind in KINDS:
            changes += getattr(self, f"_plan_{kind}")()
        return Plan(changes)

    # Each section: list the server's (skipped when the server lacks the surface and the file does
    # not use it), then one change per entry, then deletions with --prune.
    def _list(self, kind: str, fetch: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]] | None:
        if not self.env.names(kind) and not self.prune:
            return None
        try:
            return fetch()
        except ApiError as exc:
            if _absent(exc) and not self.env.names(kind):
                return None  # a server without this surface (no sinks on a real tenant)
            raise

    def resolve(self, url: str, where: str) -> str | None:
        """``sink:NAME`` -> the sink's URL (None while the sink is still to be created)."""
        if not url.startswith(SINK_PREFIX):
            return url
        name, sep, rest = url[len(SINK_PREFIX) :].partition("/")
        if name not in self.sink_urls and name not in self.env.names("sinks"):
            raise self.env.error(where, f"sink '{name}' is neither in the file nor on the server")
        base = self.sink_urls.get(name)
        return None if base is None else base + (f"/{rest}" if sep else "")

    def resolve_now(self, url: str) -> str:
        if not url.startswith(SINK_PREFIX):
            return url
        return self.api.resolve_sink_url(url)

    def _plan_sinks(self) -> list[Change]:
        current = {s["name"]: s for s in self._list("sinks", self.api.list_sinks) or []}
        self.sink_urls = {name: str(s["url"]) for name, s in current.items()}
        changes = []
        for name, spec in self.env.names("sinks").items():
            script = parse_script(spec).to_dict()
            have = current.get(name)
            if have is None:
                changes.append(Change("sink", name, "create", run=partial(self.api.put_sink, name, script)))
                continue
            fields = [k for k in SCRIPT_KEYS if script[k] != have.get(k)]
            run = partial(self.api.put_sink, name, script) if fields else None
            changes.append(Change("sink", name, "update" if fields else "unchanged", fields, run))
        changes += self._deletions("sink", current, "sinks", self.api.delete_sink)
        return changes

    def _deletions(
        self, kind: str, current: Mapping[str, Any], section: str, delete: Callable[[str], Any]
    ) -> list[Change]:
        if not self.prune:
            return []
        named = self.env.names(section)
        return [Change(kind, key, "delete", run=partial(delete, key)) for key in current if key not in named]

    def _plan_buckets(self) -> list[Change]:
        current = {b["bucket"]: b for b in self._list("buckets", self.api.list_buckets) or []}
        self.server_buckets = set(current)
        changes = []
        for bucket, spec in self.env.names("buckets").items():
            have = current.get(bucket)
            if have is None:

                def create(b: str = bucket, s: dict[str, Any] = spec) -> Any:
                    return self.api.create_bucket(
                        b,
                        name=s.get("name"),
                        enabled=s.get("enabled", True),
                        description=s.get("description"),
                        retention=s.get("retention"),
                        config=s.get("config"),
                    )

                changes.append(Change("bucket", bucket, "create", run=create))
                continue
            fields = changed_fields(spec, have)
            run = partial(self.api.update_bucket, bucket, {k: spec[k] for k in fields}) if fields else None
            changes.append(Change("bucket", bucket, "update" if fields else "unchanged", fields, run))
        changes += self._deletions("bucket", current, "buckets", self.api.delete_bucket)
        return changes

    def _plan_endpoints(self) -> list[Change]:
        current = {e["endpoint"]: e for e in self._list("endpoints", self.api.list_endpoints) or []}
        self.server_endpoints = set(current)
        changes = []
        for endpoint, spec in self.env.names("endpoints").items():
            url = str(spec["config"]["url"])
            resolved = self.resolve(url, f"endpoints.{endpoint}.config.url")
            desired = {**spec, "config": {**spec["config"], "url": resolved or url}}

            def body(e: str = endpoint, s: dict[str, Any] = spec) -> dict[str, Any]:
                config = {"method": "POST", "body_type": "json", **s["config"]}
                config["url"] = self.resolve_now(str(config["url"]))
                return {"type": "http_request", **s, "config": config, "endpoint": e}

            have = current.get(endpoint)
            if have is None:
                changes.append(
                    Change("endpoint", endpoint, "create", run=partial(_send, self.api.create_endpoint, body))
                )
                continue
            fields = changed_fields(desired, have) if resolved is not None else ["config"]
            run = (
                partial(_send, partial(self.api.update_endpoint, endpoint), partial(_without_id, body))
                if fields
                else None
            )
            changes.append(Change("endpoint", endpoint, "update" if fields else "unchanged", fields, run))
        changes += self._deletions("endpoint", current, "endpoints", self.api.delete_endpoint)
        return changes

    def _plan_devices(self) -> list[Change]:
        current = {d["device"]: d for d in self._list("devices", self.api.list_devices) or []}
        changes = []
        for device, spec in self.env.names("devices").items():
            have = current.get(device)
            fields_spec = {
                k: v for k, v in spec.items() if k not in {"callback", "properties", "tokens", "credentials"}
            }
            if have is None:

                def create(d: str = device, s: dict[str, Any] = spec) -> Any:
                    return self.api.create_device(
                        d,
                        type=s.get("type", "HTTP"),
                        name=s.get("name"),
                        description=s.get("description"),
                        enabled=s.get("enabled"),
                        asset_type=s.get("asset_type"),
                        asset_group=s.get("asset_group"),
                        product=s.get("product"),
                        credentials=s.get("credentials"),
                    )

                changes.append(Change("device", device, "create", run=create))
            else:
                if "type" in spec and spec["type"] != have.get("type"):
                    raise self.env.error(
                        f"devices.{device}.type",
                        f"the device is {have.get('type')} on the server and a type cannot change (delete it first)",
                    )
                fields = changed_fields(fields_spec, have)
                changes_ = {k: fields_spec[k] for k in fields}
                run = partial(self.api.update_device, device, changes_) if fields else None
                changes.append(Change("device", device, "update" if fields else "unchanged", fields, run))
            changes += self._plan_device_parts(device, spec, exists=have is not None)
        changes += self._deletions("device", current, "devices", self.api.delete_device)
        return changes

    def _plan_device_parts(self, device: str, spec: dict[str, Any], *, exists: bool) -> list[Change]:
        changes: list[Change] = []
        callback = spec.get("callback")
        if callback is not None:
            actions = {k: v for k, v in (callback.get("actions") or {}).items() if v}
            for action, target in actions.items():
                where = f"devices.{device}.callback.actions.{action}"
                if (
                    action == "write_bucket"
                    and target not in self.env.names("buckets")
                    and target not in self.server_buckets
                ):
                    raise self.env.error(where, f"bucket '{target}' is neither in the file nor on the server")
                if (
                    action == "call_endpoint"
                    and target not in self.env.names("endpoints")
                    and target not in self.server_endpoints
                ):
                    raise self.env.error(
                        where, f"endpoint '{target}' is neither in the file nor on the server"
                    )
            desired = {
                "actions": actions,
                "properties": {"timeout": 10, **(callback.get("properties") or {})},
            }
            have = self.api.get_callback(device) if exists else None
            if have is not None:
                have = {
                    "actions": {k: v for k, v in (have.get("actions") or {}).items() if v},
                    "properties": {"timeout": 10, **(have.get("properties") or {})},
                }
            if have != desired:
                action_name = "create" if have is None else "update"
                changes.append(
                    Change(
                        "callback",
                        device,
                        action_name,
                        ["actions", "properties"],
                        partial(self.api.set_callback, device, desired),
                    )
                )
            else:
                changes.append(Change("callback", device, "unchanged"))
        props = spec.get("properties")
        if props is not None:
            current = (
                {p["property"]: p.get("value") for p in self.api.list_properties(device)} if exists else {}
            )
            for prop, value in props.items():
                pid = f"{device}/{prop}"
                if prop in current and current[prop] == value:
                    changes.append(Change("property", pid, "unchanged"))
                else:
                    changes.append(
                        Change(
                            "property",
                            pid,
                            "update" if prop in current else "create",
                            ["value"] if prop in current else [],
                            partial(self.api.set_property, device, prop, value),
                        )
                    )
            if self.prune:
                for prop in current:
                    if prop not in props:
                        changes.append(
                            Change(
                                "property",
                                f"{device}/{prop}",
                                "delete",
                                run=partial(self.api.delete_property, device, prop),
                            )
                        )
        tokens = spec.get("tokens")
        if tokens is not None:
            have_tokens = {t.get("name"): t for t in self.api.list_device_tokens(device)} if exists else {}
            for name in tokens:
                tid = f"{device}/{name}"
                if name in have_tokens:
                    changes.append(Change("token", tid, "unchanged"))
                else:

                    def create_token(d: str = device, n: str = name) -> Any:
                        created = self.api.create_device_token(d, n)
                        self.created_tokens[f"{d}/{n}"] = created
                        return created

                    changes.append(Change("token", tid, "create", run=create_token))
            if self.prune:
                for name, token in have_tokens.items():
                    if name not in tokens:
                        changes.append(
                            Change(
                                "token",
                                f"{device}/{name}",
                                "delete",
                                run=partial(self.api.revoke_device_token, device, str(token.get("id"))),
                            )
                        )
        return changes

    def _plan_connections(self) -> list[Change]:
        listed = self._list("connections", self.api.list_connections) or []
        current: dict[str, dict[str, Any]] = {}
        for conn in listed:
            name = str(conn.get("name"))
            if name in current and name in self.env.names("connections"):
                raise self.env.error(f"connections.{name}", "the server holds two connections of this name")
            current[name] = conn
        changes = []
        for name, spec in self.env.names("connections").items():
            config = spec.get("configuration") or {}
            url = str(config["destinationURL"])
            resolved = self.resolve(url, f"connections.{name}.configuration.destinationURL")
            desired = {k: v for k, v in spec.items() if k != "configuration"}
            desired["configuration"] = {**config, "destinationURL": resolved or url}
            have = current.get(name)

            def body(
                n: str = name, s: dict[str, Any] = spec, base: dict[str, Any] | None = have
            ) -> dict[str, Any]:
                out = {
                    k: v
                    for k, v in (base or {}).items()
                    if k in {"connectorId", "name", "active", "alarms", "configuration"}
                }
                out.setdefault("connectorId", IOTFLOW_CONNECTOR)
                out["name"] = n
                out.update({k: v for k, v in s.items() if k != "configuration"})
                configuration = {**(out.get("configuration") or {}), **(s.get("configuration") or {})}
                configuration["destinationURL"] = self.resolve_now(str(configuration["destinationURL"]))
                out["configuration"] = configuration
                return out

            if have is None:
                changes.append(
                    Change("connection", name, "create", run=partial(_send, self.api.create_connection, body))
                )
                continue
            fields = changed_fields(desired, have) if resolved is not None else ["configuration"]
            cid = str(have.get("id"))
            run = partial(_send, partial(self.api.replace_connection, cid), body) if fields else None
            changes.append(Change("connection", name, "update" if fields else "unchanged", fields, run))
        if self.prune:
            named = self.env.names("connections")
            for name, conn in current.items():
                if name not in named:
                    changes.append(
                        Change(
                            "connection",
                            name,
                            "delete",
                            run=partial(self.api.delete_connection, str(conn.get("id"))),
                        )
                    )
        return changes


def _send(fn: Callable[[dict[str, Any]], Any], body: Callable[[], dict[str, Any]]) -> Any:
    """Build the body when the change runs (a sink created earlier in the same run has its URL by then)."""
    return fn(body())


def _without_id(body: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    return {k: v for k, v in body().items() if k != "endpoint"}


def plan(api: ApiClient, env: EnvFile, *, prune: bool = False) -> tuple[Plan, Planner]:
    """The changes that make the server match ``env`` (nothing is changed yet)."""
    planner = Planner(api, env, prune=prune)
    return planner.plan(), planner


def apply_plan(plan_: Plan, on_change: Callable[[Change], None] | None = None) -> None:
    """Make the plan's changes in order (sinks, buckets, endpoints, devices, connections)."""
    for change in plan_.pending:
        if change.run is not None:
            change.run()
        if on_change is not None:
            on_change(change)


def apply_env(api: ApiClient, env: EnvFile, *, prune: bool = False) -> tuple[Plan, dict[str, dict[str, Any]]]:
    """Plan and apply; returns the plan and the device tokens created (their secrets, shown once)."""
    plan_, planner = plan(api, env, prune=prune)
    apply_plan(plan_)
    return plan_, planner.created_tokens


# -- export --------------------------------------------------------------------------------------


def _clean(value: Any) -> Any:
    """TOML has no null: drop None (and empty descriptions)."""
    if isinstance(value, dict):
        return {
            k: _clean(v) for k, v in value.items() if v is not None and not (k == "description" and v == "")
        }
    if isinstance(value, list):
        return [_clean(v) for v in value if v is not None]
    return value


def _ref(*parts: str) -> str:
    return "${" + re.sub(r"[^A-Za-z0-9]+", "_", "_".join(("IOTCLI",) + parts)).upper().strip("_") + "}"


def export_env(api: ApiClient) -> dict[str, Any]:
    """What the server holds, in the environment file's format; secrets become ``${VAR}`` references."""
    from iotcli.delivery.outbox import is_secret_header

    doc: dict[str, Any] = {"version": 1}

    def optional(fetch: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        try:
            return fetch()
        except ApiError as exc:
            if _absent(exc):
                return []
            raise

    sinks = optional(api.list_sinks)
    if sinks:
        doc["sinks"] = {
            s["name"]: {k: s.get(k) for k in SCRIPT_KEYS if s.get(k) not in (None, {}, [])} for s in sinks
        }
    urls = {str(s["url"]): s["name"] for s in sinks}

    def as_ref(url: Any) -> Any:
        for base, name in urls.items():
            if url == base or (isinstance(url, str) and url.startswith(base + "/")):
                return f"{SINK_PREFIX}{name}{url[len(base) :]}"
        return url

    buckets = optional(api.list_buckets)
    if buckets:
        doc["buckets"] = {
            b["bucket"]: {k: b.get(k) for k in ("name", "description", "enabled", "config", "retention")}
            for b in buckets
        }
    endpoints = optional(api.list_endpoints)
    if endpoints:
        out: dict[str, Any] = {}
        for e in endpoints:
            config = dict(e.get("config") or {})
            config["url"] = as_ref(config.get("url"))
            config["headers"] = [
                {**h, "value": _ref("endpoint", e["endpoint"], str(h.get("key")))}
                if is_secret_header(str(h.get("key")))
                else h
                for h in config.get("headers") or []
            ]
            out[e["endpoint"]] = {k: e.get(k) for k in ("type", "name", "description", "enabled")} | {
                "config": config
            }
        doc["endpoints"] = out
    devices = optional(api.list_devices)
    if devices:
        out = {}
        for d in devices:
            entry = {
                k: d.get(k)
                for k in ("name", "description", "type", "enabled", "asset_type", "asset_group", "product")
            }
            callback = api.get_callback(d["device"]) if d.get("type", "HTTP") == "HTTP" else {}
            actions = {k: v for k, v in (callback.get("actions") or {}).items() if v}
            if actions or (callback.get("properties") or {}).get("timeout", 10) != 10:
                entry["callback"] = {"actions": actions, "properties": callback.get("properties") or {}}
            props = {p["property"]: p.get("value") for p in api.list_properties(d["device"])}
            if props:
                entry["properties"] = props
            tokens = [str(t.get("name")) for t in api.list_device_tokens(d["device"])]
            if tokens:
                entry["tokens"] = tokens
            out[d["device"]] = entry
        doc["devices"] = out
    connections = optional(api.list_connections)
    if connections:
        out = {}
        for c in connections:
            config = dict(c.get("configuration") or {})
            config["destinationURL"] = as_ref(config.get("destinationURL"))
            for key, value in list(config.items()):
                if value == MASKED:
                    config[key] = _ref("connection", str(c.get("name")), key)
                elif isinstance(value, dict):
                    config[key] = {
                        k: _ref("connection", str(c.get("name")), key, k) if v == MASKED else v
                        for k, v in value.items()
                    }
            out[str(c.get("name"))] = {
                "connectorId": c.get("connectorId"),
                "active": c.get("active"),
                "configuration": config,
            }
            if c.get("alarms") is not None:
                out[str(c.get("name"))]["alarms"] = c["alarms"]
        doc["connections"] = out
    return _clean(doc)  # type: ignore[no-any-return]


def dump_env(doc: dict[str, Any]) -> str:
    import tomli_w

    header = "# iotcli environment file (docs/apply.md): `iotcli apply -f FILE` makes a server match it.\n"
    return header + tomli_w.dumps(doc)
