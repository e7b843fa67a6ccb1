"""Client methods for the IoT Flow-style surface (connections, downlinks) and the delivery journals.

Also the emulator's journals that belong to this surface (LoRaWAN uplinks and downlinks, deliveries)
and the event journal, including its live Server-Sent Events stream.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Generator, Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from iotcli.client.base import BaseClient, error_from_response, network_error
from iotcli.errors import ApiError, NetworkError, RequestTimeout, StreamEnded
from iotcli.models.lorawan import LORAWAN_UPLINKS_PATH, downlink_body, downlink_url

IOTFLOW = "/iot-flow/v1"

#: How long an event stream may stay silent before the client gives up (the emulator sends a
#: keep-alive comment every 15 s, so a silent minute means the server is gone).
SSE_READ_TIMEOUT = 60.0


def _seg(value: str) -> str:
    """One path segment, escaped so that an id can never change the path."""
    return quote(str(value), safe="")


class IotFlowMethods(BaseClient):
    # -- connectors and connections -------------------------------------------------------------
    def list_connectors(self) -> list[dict[str, Any]]:
        return self.call("GET", f"{IOTFLOW}/connectors")  # type: ignore[no-any-return]

    def list_connections(self) -> list[dict[str, Any]]:
        return self.call("GET", f"{IOTFLOW}/connections")  # type: ignore[no-any-return]

    def get_connection(self, connection_id: str) -> dict[str, Any]:
        return self.call("GET", f"{IOTFLOW}/connections/{_seg(connection_id)}")  # type: ignore[no-any-return]

    def create_connection(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST a connection (``connectorId``, ``name``, ``configuration``, ...); returns the stored one."""
        return self.create_connection_with_warnings(body)[0]

    def create_connection_with_warnings(self, body: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """POST a connection; returns the stored one and the server's warnings (``Warning`` headers,
        e.g. keys no document knows, which the server stores and echoes as given)."""
        response = self.send("POST", f"{IOTFLOW}/connections", json=body)
        return _json_object(response), warnings_of(response)

    def replace_connection(self, connection_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """PUT the whole connection. Secrets sent back as ``"*****"`` keep their stored value."""
        return self.replace_connection_with_warnings(connection_id, body)[0]

    def replace_connection_with_warnings(
        self, connection_id: str, body: dict[str, Any]
    ) -> tuple[dict[str, Any], list[str]]:
        response = self.send("PUT", f"{IOTFLOW}/connections/{_seg(connection_id)}", json=body)
        result = _json_object(response) if response.content else None
        return (result if result else self.get_connection(connection_id)), warnings_of(response)

    def delete_connection(self, connection_id: str) -> None:
        self.send("DELETE", f"{IOTFLOW}/connections/{_seg(connection_id)}")

    # -- downlinks ------------------------------------------------------------------------------
    def downlink_url(self, connection_id: str) -> str:
        """The downlinkUrl of a connection on this server: the connection's ``downlinkUrl`` field.

        A connection made by an earlier emulator (a 32-hex id, or its dashed form) needs no lookup:
        its downlink UUID is its id, dashed.
        """
        cid = connection_id
        if re.fullmatch(r"[0-9a-fA-F]{32}|[0-9a-fA-F-]{36}", cid):
            try:
                uuid.UUID(cid)
            except ValueError:
                pass
            else:
                return downlink_url(self.base_url, cid)
        url = self.get_connection(cid).get("downlinkUrl")
        if not isinstance(url, str) or not url:
            raise ApiError(
                200, f"connection '{cid}' has no downlinkUrl", hint="pass the downlinkUrl of an uplink"
            )
        # On the server this client talks to (the emulator may name itself another way).
        return self.base_url + urlsplit(url).path

    def send_downlink(self, url: str, downlink: dict[str, Any]) -> dict[str, Any]:
        """POST ``{"DevEUI_downlink": downlink}`` to a downlinkUrl (absolute, or a path on this server).

        The account token goes along only when the URL is on this client's server: a downlinkUrl
        received from elsewhere must not learn it.
        """
        target = url if url.startswith(("http://", "https://")) else f"{self.base_url}/{url.lstrip('/')}"
        same_server = _origin(target) == _origin(self.base_url)
        try:
            result = self.call("POST", target, json=downlink_body(downlink), auth=same_server)
        except NetworkError as exc:
            if same_server:
                raise
            # The base client names its own server; here the downlinkUrl's host is the one at fault.
            where = "{}://{}".format(*_origin(target))
            detail = exc.message.split(": ", 1)[-1]
            raise type(exc)(
                f"POST {where}: {detail}", hint="is the downlinkUrl right and its server up?"
            ) from None
        return result if isinstance(result, dict) else {"status": "accepted"}

    # -- emulator journals of this surface ------------------------------------------------------
    def send_lorawan_uplink(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /_emulator/lorawan/uplinks``: an uplink the emulator completes and forwards."""
        return self.call("POST", LORAWAN_UPLINKS_PATH, json=body)  # type: ignore[no-any-return]

    def list_lorawan_downlinks(
        self, deveui: str | None = None, *, status: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        params = {"DevEUI": deveui, "status": status, "limit": limit}
        return self.call("GET", "/_emulator/lorawan/downlinks", params=params)  # type: ignore[no-any-return]

    def list_deliveries(
        self,
        *,
        status: str | None = None,
        connection: str | None = None,
        device: str | None = None,
        kind: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        params = {"status": status, "connection": connection, "device": device, "kind": kind, "limit": limit}
        return self.call("GET", "/_emulator/deliveries", params=params)  # type: ignore[no-any-return]

    def get_delivery(self, delivery_id: str) -> dict[str, Any]:
        return self.call("GET", f"/_emulator/deliveries/{_seg(delivery_id)}")  # type: ignore[no-any-return]

    def replay_delivery(self, delivery_id: str) -> dict[str, Any]:
        return self.call("POST", f"/_emulator/deliveries/{_seg(delivery_id)}/replay")  # type: ignore[no-any-return]

    # -- events ---------------------------------------------------------------------------------
    def list_events(
        self, *, kind: str | None = None, after: int | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        params = {"kind": kind, "after": after, "limit": limit}
        return self.call("GET", "/_emulator/events", params=params)  # type: ignore[no-any-return]

    def follow_events(
        self, *, kind: str | None = None, after: int | None = None
    ) -> Generator[dict[str, Any], None, None]:
        """Stream events live (Server-Sent Events) until the caller stops iterating.

        Raises ``StreamEnded`` (a ``NetworkError``) when the server ends the stream, with its reason
        (the emulator is stopping, or this follower fell too far behind).

        With ``after``, events already journaled with a larger id come first, so nothing falls
        between a listing and the stream. Closing the generator closes the connection.
        """
        params: dict[str, Any] = {"follow": "1"}
        if kind:
            params["kind"] = kind
        if after is not None:
            params["after"] = after
        path = "/_emulator/events"
        timeout = httpx.Timeout(SSE_READ_TIMEOUT, connect=min(5.0, SSE_READ_TIMEOUT))
        for attempt in range(2):
            headers = self._headers({"Accept": "text/event-stream"})
            try:
                with self.http.stream(
                    "GET", path, params=params, headers=headers, timeout=timeout
                ) as response:
                    if response.status_code == 401 and attempt == 0 and self.token_refresher is not None:
                        self.token = self.token_refresher()
                        continue
                    if response.status_code >= 400:
                        response.read()
                        raise error_from_response(response)
                    comments: list[str] = []
                    last = after
                    for event in parse_sse(response.iter_lines(), comments):
                        last = event.get("id", last)
                        yield event
                    ends = [c[4:].strip() for c in comments if c.startswith("end:")]
                    reason = ends[-1] if ends else "the server closed it"
                    resume = f"--after {last}" if last is not None else "--after <the last id>"
                    raise StreamEnded(
                        f"GET {self.base_url}{path}: the event stream ended: {reason}",
                        hint=f"follow again with {resume} to continue where it stopped",
                    )
            except httpx.TimeoutException:
                raise RequestTimeout(
                    f"GET {self.base_url}{path}: the event stream went silent",
                    hint="the server stopped sending keep-alives; is it still running?",
                ) from None
            except httpx.TransportError as exc:
                raise network_error(self.base_url, exc) from None


def parse_sse(lines: Iterator[str], comments: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """Server-Sent Events -> event dicts. ``data`` lines are joined and decoded as JSON;
    comments (keep-alives) are skipped, or collected in ``comments``; ``id``/``event`` fill
    ``id``/``kind`` when the data lacks them."""
    data: list[str] = []
    event_id: str | None = None
    event_kind: str | None = None
    for raw in lines:
        line = raw.rstrip("\r")
        if not line:
            if data:
                yield _decode_event("\n".join(data), event_id, event_kind)
            data, event_id, event_kind = [], None, None
            continue
        if line.startswith(":"):
            if comments is not None:
                comments.append(line[1:].strip())
            continue
        field, _sep, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            data.append(value)
        elif field == "id":
            event_id = value
        elif field == "event":
            event_kind = value
    if data:
        yield _decode_event("\n".join(data), event_id, event_kind)


def _decode_event(text: str, event_id: str | None, kind: str | None) -> dict[str, Any]:
    try:
        decoded = json.loads(text)
    except ValueError:
        raise ApiError(200, f"the event stream sent data that is not JSON: {text[:80]!r}") from None
    event: dict[str, Any] = decoded if isinstance(decoded, dict) else {"data": decoded}
    if event_id is not None and "id" not in event:
        event["id"] = int(event_id) if event_id.isdigit() else event_id
    if kind is not None and "kind" not in event:
        event["kind"] = kind
    return event


def warnings_of(response: httpx.Response) -> list[str]:
    """The texts of an answer's ``Warning`` headers (``299 agent "text"``, several per header)."""
    texts: list[str] = []
    for header in response.headers.get_list("warning"):
        for match in re.finditer(r'\d{3} \S+ ("(?:[^"\\]|\\.)*")', header):
            try:
                texts.append(str(json.loads(match.group(1))))
            except ValueError:
                texts.append(match.group(1).strip('"'))
    return texts


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        raise ApiError(response.status_code, "the server answered, but not with JSON") from None
    if not isinstance(data, dict):
        raise ApiError(response.status_code, "the server answered with JSON that is not an object")
    return data


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()
