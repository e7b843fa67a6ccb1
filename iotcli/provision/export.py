"""Export: what a server holds, written as an environment file (secrets as ``${VAR}`` references)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from iotcli.errors import ApiError
from iotcli.provision.changes import absent
from iotcli.provision.envfile import MASKED, SINK_PREFIX
from iotcli.sinkspec import SCRIPT_KEYS

if TYPE_CHECKING:
    from iotcli.client.api import ApiClient


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
    from iotcli.models.headers import is_secret_header

    doc: dict[str, Any] = {"version": 1}

    def optional(fetch: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        try:
            return fetch()
        except ApiError as exc:
            if absent(exc):
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
