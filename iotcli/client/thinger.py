"""Client methods for the Thinger-style surface (devices, callbacks, buckets, endpoints, properties).

Only the paths of CONTRACT section 2 are used, so the same methods work against the emulator and
against a real server. Every method returns the decoded JSON answer; failures are iotcli errors
raised by ``BaseClient.send``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from iotcli.client.base import BaseClient

#: Largest page a bucket read may ask for (CONTRACT: items max 1000).
MAX_ITEMS = 1000


def _seg(value: str) -> str:
    """One path segment, quoted so that an odd id can never change the path."""
    return quote(str(value), safe="")


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


class ThingerMethods(BaseClient):
    # -- login ----------------------------------------------------------------------------------
    def refresh_login(self, refresh_token: str) -> dict[str, Any]:
        """The refresh_token grant at /oauth/token: a new access token and a new refresh token (the one
        given stops working)."""
        return self.call(  # type: ignore[no-any-return]
            "POST",
            "/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            auth=False,
        )

    # -- paths ----------------------------------------------------------------------------------
    def _v1(self, *parts: str) -> str:
        return "/v1/users/" + "/".join(_seg(p) for p in (self.user, *parts))

    def _v3(self, *parts: str) -> str:
        return "/v3/users/" + "/".join(_seg(p) for p in (self.user, *parts))

    def callback_url(self, device: str) -> str:
        """The URL a device POSTs its JSON to: ``<server>/v3/users/<user>/devices/<id>/callback/data``."""
        return self.base_url + self._v3("devices", device, "callback", "data")

    # -- devices --------------------------------------------------------------------------------
    def list_devices(
        self,
        *,
        type: str | None = None,
        name: str | None = None,
        count: int | None = None,
        index: int | None = None,
    ) -> list[dict[str, Any]]:
        params = {"type": type, "name": name, "count": count, "index": index}
        return self.call("GET", self._v1("devices"), params=params) or []  # type: ignore[no-any-return]

    def create_device(
        self,
        device: str,
        *,
        type: str = "HTTP",
        name: str | None = None,
        description: str | None = None,
        enabled: bool | None = None,
        asset_type: str | None = None,
        asset_group: str | None = None,
        product: str | None = None,
        credentials: str | None = None,
    ) -> dict[str, Any]:
        body = _drop_none(
            {
                "device": device,
                "type": type,
                "name": name,
                "description": description,
                "enabled": enabled,
                "asset_type": asset_type,
                "asset_group": asset_group,
                "product": product,
                "credentials": credentials,
            }
        )
        return self.call("POST", self._v1("devices"), json=body)  # type: ignore[no-any-return]

    def get_device(self, device: str) -> dict[str, Any]:
        return self.call("GET", self._v1("devices", device))  # type: ignore[no-any-return]

    def update_device(self, device: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Partial update: only the keys in ``changes`` are sent (``""`` clears an asset field)."""
        return self.call("PUT", self._v1("devices", device), json=changes)  # type: ignore[no-any-return]

    def delete_device(self, device: str) -> Any:
        return self.call("DELETE", self._v1("devices", device))

    def device_stats(self, device: str) -> dict[str, Any]:
        return self.call("GET", self._v1("devices", device, "stats"))  # type: ignore[no-any-return]

    # -- device tokens --------------------------------------------------------------------------
    def create_device_token(self, device: str, name: str, *, expiration: int | None = None) -> dict[str, Any]:
        """A token that authorises only this device; the answer's ``token`` is shown only once."""
        body = _drop_none({"token_name": name, "token_expiration": expiration})
        return self.call("POST", self._v1("devices", device, "tokens"), json=body)  # type: ignore[no-any-return]

    def list_device_tokens(self, device: str) -> list[dict[str, Any]]:
        return self.call("GET", self._v1("devices", device, "tokens")) or []  # type: ignore[no-any-return]

    def revoke_device_token(self, device: str, token_id: str) -> Any:
        return self.call("DELETE", self._v1("devices", device, "tokens", token_id))

    # -- callback -------------------------------------------------------------------------------
    def get_callback(self, device: str) -> dict[str, Any]:
        return self.call("GET", self._v3("devices", device, "callback")) or {}  # type: ignore[no-any-return]

    def set_callback(self, device: str, settings: dict[str, Any]) -> dict[str, Any]:
        """PUT ``{"actions": {...}, "properties": {"timeout": N}}``."""
        return self.call("PUT", self._v3("devices", device, "callback"), json=settings) or {}  # type: ignore[no-any-return]

    def send_callback_data(
        self,
        device: str,
        payload: Any,
        *,
        token: str | None = None,
        ts: int | None = None,
    ) -> Any:
        """Ingest one payload as the device would (with a device token, or the client's token)."""
        headers = {"Authorization": f"Bearer {token}"} if token else None
        return self.call(
            "POST",
            self._v3("devices", device, "callback", "data"),
            json=payload,
            params={"ts": ts},
            headers=headers,
        )

    def get_callback_data(self, device: str) -> Any:
        """The answer a device would get, without ingesting anything."""
        return self.call("GET", self._v3("devices", device, "callback", "data"))

    # -- buckets --------------------------------------------------------------------------------
    def list_buckets(
        self, *, name: str | None = None, count: int | None = None, index: int | None = None
    ) -> list[dict[str, Any]]:
        """Buckets by id; ``name`` filters on id or name, ``count``/``index`` page."""
        params = {"name": name, "count": count, "index": index}
        return self.call("GET", self._v1("buckets"), params=params) or []  # type: ignore[no-any-return]

    def list_device_buckets(
        self, device: str, *, name: str | None = None, count: int | None = None, index: int | None = None
    ) -> list[dict[str, Any]]:
        """The buckets of one device (``/v3/users/{user}/devices/{device}/buckets``)."""
        params = {"name": name, "count": count, "index": index}
        return self.call("GET", self._v3("devices", device, "buckets"), params=params) or []  # type: ignore[no-any-return]

    def create_bucket(
        self,
        bucket: str,
        *,
        name: str | None = None,
        source: str = "write",
        enabled: bool = True,
        description: str | None = None,
        retention: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create a bucket; the real server requires ``bucket, name, config, enabled``, so all are sent."""
        body = _drop_none(
            {
                "bucket": bucket,
                "name": name if name is not None else bucket,
                "enabled": enabled,
                "config": config if config is not None else {"source": source},
                "description": description,
                "retention": retention,
            }
        )
        return self.call("POST", self._v1("buckets"), json=body)  # type: ignore[no-any-return]

    def get_bucket(self, bucket: str) -> dict[str, Any]:
        return self.call("GET", self._v1("buckets", bucket))  # type: ignore[no-any-return]

    def update_bucket(self, bucket: str, changes: dict[str, Any]) -> dict[str, Any]:
        return self.call("PUT", self._v1("buckets", bucket), json=changes)  # type: ignore[no-any-return]

    def delete_bucket(self, bucket: str) -> Any:
        return self.call("DELETE", self._v1("buckets", bucket))

    def write_bucket(self, bucket: str, record: Any, *, ts: int | None = None) -> Any:
        """Write one record; ``ts`` (epoch ms) goes in the query, the record is the body as is."""
        return self.call("POST", self._v1("buckets", bucket, "data"), json=record, params={"ts": ts})

    def read_bucket(
        self,
        bucket: str,
        *,
        items: int | None = None,
        min_ts: int | None = None,
        max_ts: int | None = None,
        sort: str | None = None,
        version: int = 1,
        agg: str | None = None,
        agg_type: str | None = None,
        tz: str | None = None,
        device: str | None = None,
    ) -> list[dict[str, Any]]:
        """Records: v1 ``[{"ts", "val"}]``, v2 ``[{"ts", ...fields}]``; with ``agg`` (``1h``) one
        record per interval, v1 ``[{"<agg_type>": {...}, "ts"}]``. ``device``: the device-scoped read."""
        if version not in (1, 2, 3) or (version == 3 and device is None):
            raise ValueError("version must be 1 or 2 (3 only for a device-scoped read)")
        scope = f"devices/{_seg(device)}/" if device is not None else ""
        path = f"/v{version}/users/{_seg(self.user)}/{scope}buckets/{_seg(bucket)}/data"
        params = {
            "items": items,
            "min_ts": min_ts,
            "max_ts": max_ts,
            "sort": sort,
            "agg": agg,
            "agg_type": agg_type,
            "tz": tz,
        }
        return self.call("GET", path, params=params) or []  # type: ignore[no-any-return]

    def clear_bucket(self, bucket: str, *, min_ts: int | None = None, max_ts: int | None = None) -> Any:
        """Delete the records between ``min_ts`` and ``max_ts`` (both included), or all of them."""
        params = {"min_ts": min_ts, "max_ts": max_ts}
        return self.call("DELETE", self._v1("buckets", bucket, "data"), params=params)

    # -- bucket exports -------------------------------------------------------------------------
    def create_export(
        self,
        bucket: str,
        *,
        data_type: str = "csv",
        timestamp_format: str | None = None,
        min_ts: int | None = None,
        max_ts: int | None = None,
        callback: str | None = None,
        endpoint: str | None = None,
    ) -> dict[str, Any]:
        """Ask for an export file (``data_type`` csv, json or arff); the answer names it (``file``)."""
        body = _drop_none(
            {
                "data_type": data_type,
                "timestamp_format": timestamp_format,
                "min_ts": min_ts,
                "max_ts": max_ts,
                "callback": callback,
                "endpoint": endpoint,
            }
        )
        return self.call("POST", self._v1("buckets", bucket, "exports"), json=body) or {}  # type: ignore[no-any-return]

    def list_exports(self, bucket: str) -> list[dict[str, Any]]:
        return self.call("GET", self._v1("buckets", bucket, "exports")) or []  # type: ignore[no-any-return]

    def download_export(self, bucket: str, file: str) -> bytes:
        """The export file's bytes, as the server keeps them."""
        return self.send("GET", self._v1("buckets", bucket, "exports", file)).content

    def delete_export(self, bucket: str, file: str) -> Any:
        return self.call("DELETE", self._v1("buckets", bucket, "exports", file))

    def iter_bucket(
        self,
        bucket: str,
        *,
        min_ts: int | None = None,
        max_ts: int | None = None,
        page_size: int = MAX_ITEMS,
    ) -> Iterator[list[dict[str, Any]]]:
        """Every v1 record between ``min_ts`` and ``max_ts``, oldest first, one list per page.

        Pages are windows ``[last ts, max_ts]`` in ascending order. The next window starts AT the
        last ts seen (so nothing with that ts is skipped whether the server treats ``min_ts`` as
        inclusive or not); records already yielded at that ts are dropped, so there are neither
        gaps nor duplicates. A page shorter than ``page_size`` is the last one.
        """
        low = min_ts
        seen_at_low: set[str] = set()
        while True:
            page = self.read_bucket(bucket, items=page_size, min_ts=low, max_ts=max_ts, sort="asc", version=1)
            fresh: list[dict[str, Any]] = []
            for rec in page:
                ts = rec.get("ts")
                seen = low is not None and isinstance(ts, int | float) and ts <= low
                if seen and (ts != low or _record_key(rec) in seen_at_low):
                    continue
                fresh.append(rec)
            if fresh:
                yield fresh
            if len(page) < page_size:
                return
            if not fresh:
                # A full page of records all at ``low`` that were already seen: only a server with
                # more than page_size records in one millisecond gets here; move past it.
                if low is None:
                    return
                low, seen_at_low = low + 1, set()
                continue
            last = fresh[-1].get("ts")
            if not isinstance(last, int | float):
                return
            if last != low:
                seen_at_low = set()
            low = int(last)
            seen_at_low.update(_record_key(r) for r in fresh if r.get("ts") == low)

    # -- endpoints ------------------------------------------------------------------------------
    def list_endpoints(
        self, *, name: str | None = None, count: int | None = None, index: int | None = None
    ) -> list[dict[str, Any]]:
        """Endpoints by id; ``name`` filters on id or name, ``count``/``index`` page."""
        params = {"name": name, "count": count, "index": index}
        return self.call("GET", self._v1("endpoints"), params=params) or []  # type: ignore[no-any-return]

    def create_endpoint(self, body: dict[str, Any]) -> dict[str, Any]:
        """``{"endpoint", "type": "http_request", "name", "description", "enabled", "config": {...}}``."""
        return self.call("POST", self._v1("endpoints"), json=body)  # type: ignore[no-any-return]

    def get_endpoint(self, endpoint: str) -> dict[str, Any]:
        return self.call("GET", self._v1("endpoints", endpoint))  # type: ignore[no-any-return]

    def update_endpoint(self, endpoint: str, changes: dict[str, Any]) -> dict[str, Any]:
        return self.call("PUT", self._v1("endpoints", endpoint), json=changes)  # type: ignore[no-any-return]

    def delete_endpoint(self, endpoint: str) -> Any:
        return self.call("DELETE", self._v1("endpoints", endpoint))

    def call_endpoint(self, endpoint: str, data: Any = None) -> Any:
        """Call it with ``data``; the emulator answers ``{"status", "body"}`` of the target."""
        return self.call("POST", self._v1("endpoints", endpoint, "call"), json=data)

    # -- properties -----------------------------------------------------------------------------
    def list_properties(self, device: str) -> list[dict[str, Any]]:
        return self.call("GET", self._v3("devices", device, "properties")) or []  # type: ignore[no-any-return]

    def create_properties(self, device: str, props: dict[str, Any] | list[dict[str, Any]]) -> Any:
        """Create one ``{"property", "value"}`` or an array of them (existing ids are overwritten)."""
        return self.call("POST", self._v3("devices", device, "properties"), json=props)

    def get_property(self, device: str, prop: str) -> dict[str, Any]:
        return self.call("GET", self._v3("devices", device, "properties", prop))  # type: ignore[no-any-return]

    def set_property(self, device: str, prop: str, value: Any) -> Any:
        """PUT ``{"value": value}``: creates or overwrites."""
        return self.call("PUT", self._v3("devices", device, "properties", prop), json={"value": value})

    def patch_property(self, device: str, prop: str, patch: dict[str, Any]) -> Any:
        """Merge ``patch`` into the property (RFC 7386)."""
        return self.call("PATCH", self._v3("devices", device, "properties", prop), json=patch)

    def delete_property(self, device: str, prop: str) -> Any:
        return self.call("DELETE", self._v3("devices", device, "properties", prop))


def _record_key(rec: dict[str, Any]) -> str:
    return json.dumps(rec, sort_keys=True, default=str)
