"""The LRC downlink tunnel's rules (the route is ``tunnel.py``): ``POST /thingpark/lrc/rest/downlink?DevEUI&FPort&Payload&...&AS_ID&Time&Token``.

How ThingPark's application-server examples send a downlink [source: actility/thingpark-integrations
``1_tpNS-AS/AS_python_example/send_downlink_with_token.py``, ``AS_nodejs_example/send_downlink_with_token.js``,
``curl_script_examples/send_downlink.sh``]: every field is a query parameter, and

    Token = sha256_hex("DevEUI=..&FPort=..&Payload=..[&Confirmed=1][&FlushDownlinkQueue=1][&ValidityTime=..]"
                       "&AS_ID=..&Time=..[&CorrelationID=..]" + AS_KEY)

over the query as written before URL-encoding (the examples encode ``:`` and ``+`` afterwards). The
emulator checks it over the parameters in the order they came, decoded, without ``Token``, so any
order a client signs works.

The connection is the one whose ``downlinkAsId`` is the request's ``AS_ID``; its ``downlinkAsKey`` is
the AS_KEY. A good token queues the downlink exactly as ``/iot-flow/downlinkMessages/{uuid}`` does
(202). A bad token, or an AS_ID no connection has, is 409 ``{"code","message"}`` [source: the LRC v2
API's answer, per issue 16]. A connection without a ``downlinkAsKey`` takes unsigned downlinks
("Token is mandatory when the Application server authentication has been activated" [source:
Downlink_Message/README.md]). ``Time`` is not checked against a "Max Time Deviation" [chosen: there is
no AS profile to take it from].
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Any

from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.iotflow.connection_model import Connection
from iotcli.emulator.iotflow.connection_secrets import as_key_of, is_hashed_as_key
from iotcli.emulator.iotflow.fields import (
    CORRELATION_SCHEMA,
    COUNTER_SCHEMA,
    DEVEUI_SCHEMA,
    FPORT_SCHEMA,
    ISO_TIME_SCHEMA,
    PAYLOAD_HEX_SCHEMA,
    TOKEN_SCHEMA,
    VALIDITY_SCHEMA,
    Fields,
)
from iotcli.models import lorawan

#: The query parameters of a LoRaWAN downlink [source: Downlink_Message/README.md fields, with the
#: hex payload as ``Payload`` as the tunnel examples send it].
PARAMS = (
    "DevEUI", "FPort", "Payload", "FCntDn", "AFCntDn", "Confirmed", "FlushDownlinkQueue", "ValidityTime",
    "CorrelationID", "RetryIneligibleGateways", "AS_ID", "Time", "Token",
)  # fmt: skip
QUERY_FIELDS = Fields(prefix="", rename={"payload_hex": "Payload"})

_FLAG = {"type": "string", "enum": ["0", "1", "true", "false", "True", "False"]}
_SEE = "see docs/reference/http-connections-api.md"
#: The parameters as JSON Schemas, as strict as the checks (the OpenAPI document's query). ``Time`` is
#: required only when the connection has a downlinkAsKey, ``Token`` too: the document cannot know.
QUERY_SCHEMAS: dict[str, dict[str, Any]] = {
    "DevEUI": {**DEVEUI_SCHEMA, "description": "the device (16 hex digits)"},
    "FPort": {**FPORT_SCHEMA, "description": "1..224 (the connection's downlinkPort when left out)"},
    "Payload": {**PAYLOAD_HEX_SCHEMA, "description": "the payload as hex (required)"},
    "FCntDn": {**COUNTER_SCHEMA, "description": _SEE},
    "AFCntDn": {**COUNTER_SCHEMA, "description": _SEE},
    "Confirmed": {**_FLAG, "description": "0 or 1"},
    "FlushDownlinkQueue": {**_FLAG, "description": "0 or 1"},
    "ValidityTime": {
        "anyOf": [schema for schema in VALIDITY_SCHEMA["anyOf"] if schema.get("type") == "string"],
        "description": "an ISO 8601 time, or a duration in seconds",
    },
    "CorrelationID": {**CORRELATION_SCHEMA, "description": "1 to 16 hex digits"},
    "RetryIneligibleGateways": {**_FLAG, "description": "0 or 1 (multicast only)"},
    "AS_ID": {
        "type": "string",
        "minLength": 1,
        "required": True,
        "description": "the downlinkAsId of the connection",
    },
    "Time": {**ISO_TIME_SCHEMA, "description": "ISO 8601 (required with AS authentication)"},
    "Token": {**TOKEN_SCHEMA, "description": "sha256(query without Token + AS_KEY), 64 hex digits"},
}
assert tuple(QUERY_SCHEMAS) == PARAMS


def token_for(pairs: list[tuple[str, str]], as_key: str) -> str:
    """The Token of a tunnel request: SHA-256 of its query (without ``Token``) followed by the AS_KEY."""
    signed = "&".join(f"{k}={v}" for k, v in pairs if k != "Token")
    return hashlib.sha256((signed + as_key).encode("utf-8")).hexdigest()


def single_values(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """The query as a dict; a parameter given twice is a 400."""
    given: dict[str, str] = {}
    for key, value in pairs:
        if key in given:
            raise ApiProblem(400, f"query parameter '{key}' is given twice")
        given[key] = value
    return given


def unknown_params(given: dict[str, str]) -> list[str]:
    """The parameters no document lists (ignored, reported in the journal)."""
    return sorted(set(given) - set(PARAMS))


def connections_for(connections: Iterable[Connection], given: dict[str, str]) -> list[Connection]:
    """The connections whose ``downlinkAsId`` is the query's ``AS_ID`` (a 400 without one, a 409 when none)."""
    as_id = given.get("AS_ID")
    if not as_id:
        raise ApiProblem(400, "query parameter 'AS_ID' is required")
    found = [c for c in connections if str(c.configuration.get("downlinkAsId") or "") == as_id]
    if not found:
        raise ApiProblem(409, f"AS_ID '{as_id[:128]}' is not the downlinkAsId of any connection")
    return found


def authenticate(candidates: list[Connection], pairs: list[tuple[str, str]], token: str | None) -> Connection:
    """The connection whose AS_KEY signed the request (or one without a key), else 409."""
    unsigned = [c for c in candidates if not c.configuration.get("downlinkAsKey")]
    keyed = [c for c in candidates if c.configuration.get("downlinkAsKey")]
    if keyed and token is None and not unsigned:
        raise ApiProblem(400, "query parameter 'Token' is required (the connection has a downlinkAsKey)")
    if token is not None:
        for conn in keyed:
            key = as_key_of(conn.configuration.get("downlinkAsKey"))
            if key is not None and hmac.compare_digest(token_for(pairs, key), token.lower()):
                return conn
    if unsigned:
        return unsigned[0]
    if all(is_hashed_as_key(str(c.configuration.get("downlinkAsKey"))) for c in keyed):
        raise ApiProblem(
            409,
            "the connection's downlinkAsKey was stored as a hash by an earlier emulator version: "
            "set it again (PUT the connection) to use the LRC tunnel",
        )
    raise ApiProblem(409, "Token does not match: expected sha256(query without Token + AS_KEY)")


def downlink_body(conn: Connection, given: dict[str, str]) -> dict[str, Any]:
    """The query as a ``{"DevEUI_downlink": {...}}`` body (``Payload`` as ``payload_hex``), checked
    by ``validate_downlink`` with ``QUERY_FIELDS`` names."""
    if "Payload" not in given:
        raise ApiProblem(400, "query parameter 'Payload' is required (the hex payload)")
    if conn.configuration.get("downlinkAsKey") and "Time" not in given:
        raise ApiProblem(400, "query parameter 'Time' is required (ISO 8601) with AS authentication")
    dl: dict[str, Any] = {"payload_hex": given["Payload"]}
    for key in PARAMS:
        if key in given and key != "Payload":
            dl[key] = given[key]
    return lorawan.downlink_body(dl)
