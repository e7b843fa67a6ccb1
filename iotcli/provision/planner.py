"""Planning: what the server holds against an ``EnvFile`` -> a ``Plan`` of ``Change``s, each with the
call that makes it (nothing changes until ``apply_plan`` runs them)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from iotcli.errors import ApiError
from iotcli.provision.changes import Change, Plan, absent, changed_fields
from iotcli.provision.envfile import (
    IOTFLOW_CONNECTOR,
    KINDS,
    SINK_PREFIX,
    EnvFile,
)
from iotcli.sinkspec import SCRIPT_KEYS, parse_script

if TYPE_CHECKING:
    from iotcli.client.api import ApiClient


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
            if absent(exc) and not self.env.names(kind):
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
