"""Reading and checking an environment file: TOML -> ``EnvFile`` (``${VAR}`` filled in), or an
``EnvFileError`` naming file, line and key (``locate``)."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iotcli.errors import UsageError
from iotcli.models.ids import ID_PATTERN, ID_RULE
from iotcli.sinkspec import SCRIPT_KEYS, ScriptError, parse_script

ID = ID_PATTERN  # the id rule of iotcli.models.ids
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
    if kind != "connections" and not ID.fullmatch(entry):
        raise env.error(where, f"the id must be {ID_RULE}")
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
        if not ID.fullmatch(prop):
            raise env.error(f"{where}.properties.{prop}", f"the id must be {ID_RULE}")


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
