"""The HTTP connector (``actility-http-iot``): its configuration JSON Schema and the validation built on it.

``GET /iot-flow/v1/connectors`` publishes ``CONFIGURATION_SCHEMA``; the connections API validates every
configuration with the very same schema (jsonschema), after coercing scalars the way the real,
Jackson-based server does (``coercion.py``), so the document and the rules cannot drift.

Every parameter the documentation lists is known [source]: the common ones of
docs/Getting_Started/Setting_Up_A_Connection_instance/About_connections.md (``description``,
``createDevices``, ``sendMetadata``, ``sendRawDecodedFormat``, ``uplinkTimeValidity``,
``downlinkEnabled``, ``downlinkAsId``, ``downlinkAsKey``, ``downlinkPort``, ``reconnectStrategy``)
and the HTTP connector's of docs/Connector/HTTP/README.md (``headers``, ``destinationURL``,
``strictMode``, ``blamePeriod``, ``proxy``, ``lrcCompliance``, ``tiak``), all in
actility/tpx-iot-flow-doc. Keys no document knows are stored and echoed as given, like the real
server; the caller is told about them (``unknown``).
"""

from __future__ import annotations

import copy
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.iotflow.coercion import INT_MAX, coerce_object
from iotcli.emulator.iotflow.connection_secrets import MASK as MASK
from iotcli.emulator.iotflow.templates import header_value_problem
from iotcli.emulator.jsonwords import missing_property

CONNECTOR_ID = "actility-http-iot"
RECONNECT_STRATEGIES = ["NORMAL", "CALM", "AGGRESSIVE"]

#: White space as both Python's ``re`` (the checks) and ECMA-262 (JSON Schema's patterns, what a client
#: generates from the document) read ``\s``: the two differ (\x1c-\x1f and \x85 for Python, \ufeff
#: for ECMA), so patterns name the union. ``(?![\s\S])`` ends them where ``$`` would also match before
#: a final newline.
_WS = r"\t\n\v\f\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_END = r"(?![\s\S])"

CONFIGURATION_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    # The id form of the real connectors' schemas (Jackson's JSON Schema module) [source:
    # Creating_a_connection_instance_using_the_API.md]; the class name is ours [chosen].
    "id": "urn:jsonschema:com:actility:tpx:flow:core:domain:connection:http:HttpConfig",
    "title": "HTTP connection configuration",
    "type": "object",
    "required": ["destinationURL"],
    "properties": {
        "destinationURL": {
            "type": "string",
            "pattern": rf"^https?://[^{_WS}/?#]+[^{_WS}]*{_END}",
            "maxLength": 2048,
            "description": "Where uplinks are POSTed; http:// or https://",
        },
        "headers": {
            "type": "object",
            "propertyNames": {"pattern": rf"^[!#$%&'*+.^_`|~0-9A-Za-z-]{{1,128}}{_END}"},
            "additionalProperties": {
                "type": "string",
                "maxLength": 4096,
                # Sendable: tab, printable ASCII and the rest of Latin-1 (check_headers).
                "pattern": rf"^[\t\x20-\x7e\x80-\xff]*{_END}",
            },
            "description": "HTTP headers; values may hold pattern expressions such as {DevEUI}",
        },
        "strictMode": {
            "type": "boolean",
            "default": False,
            "description": "Resend a message 3 times, 2 s apart, when the answer is not 2xx "
            "(emulate --strict-mode reconnect: close the connection and reconnect instead)",
        },
        "blamePeriod": {
            "type": "integer",
            "minimum": 0,
            "maximum": INT_MAX,
            "default": 30,
            "description": "Integer, in seconds (stored; the emulator does not act on it)",
        },
        "proxy": {
            "type": "object",
            "required": ["hostname"],
            "properties": {
                "hostname": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 512,
                    "pattern": rf"^[^{_WS}]+{_END}",
                },
                "username": {"type": "string", "maxLength": 256},
                "password": {"type": "string", "maxLength": 256, "writeOnly": True},
            },
            "description": "HTTP proxy the requests go through",
        },
        "lrcCompliance": {
            "type": "boolean",
            "default": False,
            "description": "Add the LRC query (LrnDevEui, LrnFPort, LrnInfos, AS_ID, Time, Token)",
        },
        "tiak": {
            "type": "string",
            "pattern": rf"^[0-9a-fA-F]{{32}}{_END}",
            "writeOnly": True,
            "description": "Key (32 hex digits) of the LRC Token; generated when lrcCompliance is true "
            "and none is given",
        },
        "description": {"type": "string", "maxLength": 1024},
        "createDevices": {
            "type": "boolean",
            "default": True,
            "description": "Register devices on the cloud side on the first uplink (stored)",
        },
        "sendMetadata": {
            "type": "boolean",
            "default": False,
            "description": "Send the uplink object without the DevEUI_uplink wrapper",
        },
        "sendRawDecodedFormat": {
            "type": "boolean",
            "default": False,
            "description": "Send only the decoded payload when the uplink has one",
        },
        "uplinkValueTypes": {
            "type": "string",
            "enum": ["number", "string"],
            "description": "Emulator only: value types of forwarded uplinks: number (default, like the "
            'decoded example) or string (like the first uplink example: "FPort":"1")',
        },
        "uplinkTimeValidity": {
            "type": "string",
            "pattern": rf"^[1-9][0-9]{{0,6}}(s|m|h|d){_END}",
            "description": "Uplinks older than this are not sent (e.g. 30s, 5m, 2h, 1d)",
        },
        "downlinkEnabled": {"type": "boolean", "default": True},
        "downlinkAsId": {"type": "string", "minLength": 1, "maxLength": 128},
        "downlinkAsKey": {"type": "string", "minLength": 1, "maxLength": 128, "writeOnly": True},
        "downlinkPort": {"type": "integer", "minimum": 1, "maximum": 224},
        "reconnectStrategy": {"type": "string", "enum": RECONNECT_STRATEGIES, "default": "NORMAL"},
    },
}

#: The connection body around the configuration (POST and PUT). ``id``, ``startupTime``, ``state`` and
#: ``downlinkUrl`` are read-only: accepted (so a GET answer can be sent back as a PUT) and ignored.
#: ``brand`` and ``contentType`` are top-level fields real clients send: stored and echoed.
CONNECTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["connectorId", "name", "configuration"],
    "properties": {
        "connectorId": {"type": "string", "enum": [CONNECTOR_ID]},
        "name": {"type": "string", "minLength": 1, "maxLength": 256},
        "active": {"type": "boolean", "default": True},
        "alarms": {"type": ["array", "object"]},
        "brand": {"type": "string", "maxLength": 256},
        "contentType": {"type": "string", "maxLength": 256},
        "configuration": CONFIGURATION_SCHEMA,
        "id": {"type": "string", "readOnly": True},
        "startupTime": {"readOnly": True},
        "state": {"readOnly": True},
        "downlinkUrl": {"readOnly": True},
    },
}

#: What ``coerce_object`` knows: field -> type (``None``: read-only, dropped).
PROXY_FIELDS: dict[str, Any] = {"hostname": "string", "username": "string", "password": "string"}
CONFIGURATION_FIELDS: dict[str, Any] = {
    "destinationURL": "string",
    "headers": ("map", "string"),
    "strictMode": "boolean",
    "blamePeriod": "integer",
    "proxy": PROXY_FIELDS,
    "lrcCompliance": "boolean",
    "tiak": "string",
    "description": "string",
    "createDevices": "boolean",
    "sendMetadata": "boolean",
    "sendRawDecodedFormat": "boolean",
    "uplinkValueTypes": "string",
    "uplinkTimeValidity": "string",
    "downlinkEnabled": "boolean",
    "downlinkAsId": "string",
    "downlinkAsKey": "string",
    "downlinkPort": "integer",
    "reconnectStrategy": "string",
}
CONNECTION_FIELDS: dict[str, Any] = {
    "connectorId": "string",
    "name": "string",
    "active": "boolean",
    "alarms": "any",
    "brand": "string",
    "contentType": "string",
    "configuration": CONFIGURATION_FIELDS,
    "id": None,
    "startupTime": None,
    "state": None,
    "downlinkUrl": None,
}
#: Top-level fields kept in the connection's ``extra`` (echoed as given), besides unknown keys.
STORED_TOP_LEVEL = ("brand", "contentType")

CONNECTOR: dict[str, Any] = {
    # The documented fields of a connector [source: Creating_a_connection_instance_using_the_API.md];
    # the values for the HTTP connector follow the AWS example's form [chosen].
    "id": CONNECTOR_ID,
    "producerId": "actility",
    "moduleId": "http-iot",
    "version": "2.0.0",
    "description": "Actility HTTP Connector",
    "connection": {"configurationSchema": CONFIGURATION_SCHEMA},
    "flow": {},
}

_validator = Draft202012Validator(CONNECTION_SCHEMA)


def connector(connector_id: str) -> dict[str, Any]:
    """The connector with this id (only ``actility-http-iot``), or a 404."""
    if connector_id != CONNECTOR_ID:
        raise ApiProblem(404, f"connector '{connector_id[:64]}' not found")
    return CONNECTOR


@dataclass
class CheckedConnection:
    """A connection body after coercion and validation."""

    body: dict[str, Any]
    #: Paths of the keys no document knows (``configuration.foo``), stored and echoed as given.
    unknown: list[str] = field(default_factory=list)
    #: True when ``tiak`` was generated (lrcCompliance without a tiak).
    generated_tiak: bool = False


def _where(error: ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    return path or "body"


def describe(error: ValidationError) -> str:
    """One message naming the field at fault."""
    where = _where(error)
    validator = error.validator
    if validator == "required":
        missing = missing_property(error, "?")
        full = f"{where}.{missing}" if where != "body" else missing
        return f"field '{full}' is required"
    if validator == "enum" and where == "connectorId":
        return f"unsupported connectorId '{error.instance}': only '{CONNECTOR_ID}' is supported"
    if validator == "enum":
        choices = ", ".join(str(v) for v in error.validator_value)
        return f"field '{where}' must be one of {choices}"
    if validator == "type":
        return f"field '{where}' must be of type {error.validator_value}"
    if "propertyNames" in error.schema_path:
        return f"invalid header name '{error.instance}' in '{where}'"
    if validator == "pattern":
        hints = {
            "configuration.destinationURL": "an http:// or https:// URL",
            "configuration.proxy.hostname": "a host name (no spaces)",
            "configuration.tiak": "32 hex digits",
            "configuration.uplinkTimeValidity": "a duration such as 30s, 5m, 2h or 1d",
        }
        if where.startswith("configuration.headers."):
            problem = header_value_problem(error.instance) if isinstance(error.instance, str) else None
            return (
                f"header '{where.split('.', 2)[2]}' in 'configuration.headers' {problem or 'is not sendable'}"
            )
        return f"field '{where}' must be {hints.get(where, 'in the form ' + str(error.validator_value))}"
    if validator in {"minimum", "maximum"}:
        low, high = error.schema.get("minimum"), error.schema.get("maximum")
        if high is None:
            return f"field '{where}' must be at least {low}"
        return f"field '{where}' must be between {low} and {high}"
    if validator in {"minLength", "maxLength"}:
        return f"field '{where}' is too {'short' if validator == 'minLength' else 'long'}"
    return f"field '{where}': {error.message}"


def validate_connection(body: Any, stored_tiak: str | None = None) -> CheckedConnection:
    """Coerce and validate a connection body (POST or PUT): the body to store, or a 400 naming the
    first problem.

    ``lrcCompliance: true`` without ``tiak`` is accepted: a tiak is generated, as the real server
    does [source: docs/Connector/HTTP/README.md, "TIAK is a 32-hexadecimal digits key generated with
    a high entropy that is associated with the connection"; the page's own API example sends
    ``lrcCompliance: true`` and no tiak]. On a PUT, ``stored_tiak`` (the connection's current one) is
    kept instead of a new one being made, so that replacing a connection does not change the key its
    application server checks [chosen].
    """
    if not isinstance(body, dict):
        raise ApiProblem(400, "request body must be a JSON object")
    unknown: list[str] = []
    coerced = coerce_object(body, CONNECTION_FIELDS, "", unknown)
    # jsonschema's relevance order: the error a person should fix first.
    error = best_match(_validator.iter_errors(coerced))
    if error is not None:
        raise ApiProblem(400, describe(error))
    checked = CheckedConnection(coerced, unknown)
    config = coerced["configuration"]
    check_headers(config.get("headers"))
    if config.get("lrcCompliance") is True and not config.get("tiak"):
        if stored_tiak:
            config["tiak"] = stored_tiak
        else:
            config["tiak"] = secrets.token_hex(16)
            checked.generated_tiak = True
    return checked


def with_defaults(configuration: dict[str, Any]) -> dict[str, Any]:
    """The stored configuration: what was given plus the schema's defaults."""
    out = copy.deepcopy(configuration)
    out.setdefault("headers", {})
    for key, spec in CONFIGURATION_SCHEMA["properties"].items():
        if "default" in spec:
            out.setdefault(key, spec["default"])
    return out


#: Header names: an RFC 9110 token, matched whole (``$`` in a pattern matches before a final newline).
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}")


def check_headers(headers: Any) -> None:
    """Every header name a token and every value sendable (no CR, LF, NUL or other control byte; Latin-1
    only), checked with a full match: a 400 naming the header at configuration time."""
    if not isinstance(headers, dict):
        return
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name):
            raise ApiProblem(400, f"invalid header name {name[:64]!r} in 'configuration.headers'")
        problem = header_value_problem(value) if isinstance(value, str) else None
        if problem is not None:
            raise ApiProblem(400, f"header '{name}' in 'configuration.headers' {problem}")
