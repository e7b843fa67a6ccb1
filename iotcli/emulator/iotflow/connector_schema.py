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
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from iotcli.delivery.outbox import is_secret_header
from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.iotflow.coercion import coerce_object
from iotcli.emulator.iotflow.templates import header_value_problem

CONNECTOR_ID = "actility-http-iot"
MASK = "*****"
#: Configuration paths whose values are secrets: masked as ``"*****"`` in every answer.
SECRET_PATHS: list[tuple[str, ...]] = [("downlinkAsKey",), ("tiak",), ("proxy", "password")]
RECONNECT_STRATEGIES = ["NORMAL", "CALM", "AGGRESSIVE"]

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
            "pattern": r"^https?://[^\s/?#]+[^\s]*$",
            "maxLength": 2048,
            "description": "Where uplinks are POSTed; http:// or https://",
        },
        "headers": {
            "type": "object",
            "propertyNames": {"pattern": r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$"},
            "additionalProperties": {"type": "string", "maxLength": 4096, "pattern": r"^[^\r\n]*$"},
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
            "default": 30,
            "description": "Integer, in seconds (stored; the emulator does not act on it)",
        },
        "proxy": {
            "type": "object",
            "required": ["hostname"],
            "properties": {
                "hostname": {"type": "string", "minLength": 1, "maxLength": 512, "pattern": r"^[^\s]+$"},
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
            "pattern": "^[0-9a-fA-F]{32}$",
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
            "pattern": r"^[1-9][0-9]{0,6}(s|m|h|d)$",
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
        missing = str(error.message).split("'")[1] if "'" in str(error.message) else "?"
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
            "configuration.tiak": "32 hex digits",
            "configuration.uplinkTimeValidity": "a duration such as 30s, 5m, 2h or 1d",
        }
        if where.startswith("configuration.headers."):
            return f"header '{where.split('.', 2)[2]}' must not contain line breaks"
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


def mask_secret_headers(connection: dict[str, Any]) -> dict[str, Any]:
    """A connection answer with the values of secret-named headers (``Authorization``, ``X-Api-Key``, ...)
    as ``"*****"``: for reads (GET, list). The create and replace answers echo what their caller sent."""
    headers = (connection.get("configuration") or {}).get("headers")
    if isinstance(headers, dict):
        connection["configuration"]["headers"] = {
            name: MASK if value not in (None, "") and is_secret_header(name) else value
            for name, value in headers.items()
        }
    return connection


def mask(configuration: dict[str, Any]) -> dict[str, Any]:
    """A copy with every secret replaced by ``"*****"``."""
    out = copy.deepcopy(configuration)
    for path in SECRET_PATHS:
        node: Any = out
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and node.get(path[-1]) not in (None, ""):
            node[path[-1]] = MASK
    return out


def keep_secrets(new: dict[str, Any], stored: dict[str, Any] | None) -> dict[str, Any]:
    """Replace ``"*****"`` in ``new`` by the stored secret; a mask without a stored value is a 400."""
    out = copy.deepcopy(new)
    headers, stored_headers = out.get("headers"), (stored or {}).get("headers") or {}
    if isinstance(headers, dict):
        for name, value in headers.items():
            if value == MASK and is_secret_header(name):
                if not stored_headers.get(name):
                    raise ApiProblem(
                        400, f"header '{name}' is '{MASK}' but no value is stored to keep: send it"
                    )
                headers[name] = stored_headers[name]
    for path in SECRET_PATHS:
        node: Any = out
        old: Any = stored or {}
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
            old = old.get(key) if isinstance(old, dict) else None
        leaf = path[-1]
        if isinstance(node, dict) and node.get(leaf) == MASK:
            previous = old.get(leaf) if isinstance(old, dict) else None
            if not previous:
                name = "configuration." + ".".join(path)
                raise ApiProblem(400, f"field '{name}' is '{MASK}' but no value is stored to keep: send it")
            node[leaf] = previous
    return out


#: ``downlinkAsKey`` is kept itself, not as a hash: the LRC downlink tunnel checks
#: ``Token = sha256(query + AS_KEY)``, which needs the key [source: actility/thingpark-integrations
#: 1_tpNS-AS/AS_python_example/send_downlink_with_token.py]. In memory it is the key as given (masked
#: in every answer and journal); in the database it is sealed (``seal_as_key``) so that a copied or
#: dumped emulator.db does not show it [chosen]. An earlier emulator kept only ``HASHED`` + its SHA-256:
#: such a key still checks a body's ``AS_KEY``; the tunnel needs it set again.
HASHED = "sha256:"


def _sha256(value: str) -> str:
    return HASHED + hashlib.sha256(value.encode("utf-8")).hexdigest()


SEALED = "sealed:"
#: Obfuscation, not protection from someone who has this source: the point is that the key does not
#: appear in the database file (grep, dumps, bug reports).
_SEAL_KEY = hashlib.sha256(b"iotcli emulator: downlinkAsKey at rest").digest()


def _keystream(nonce: bytes, size: int) -> bytes:
    out = b""
    block = 0
    while len(out) < size:
        out += hmac.new(_SEAL_KEY, nonce + block.to_bytes(4, "big"), hashlib.sha256).digest()
        block += 1
    return out[:size]


def seal_as_key(configuration: dict[str, Any]) -> dict[str, Any]:
    """The configuration as written to the database: ``downlinkAsKey`` sealed."""
    key = configuration.get("downlinkAsKey")
    if not isinstance(key, str) or not key or key.startswith(SEALED) or is_hashed_as_key(key):
        return configuration
    nonce = secrets.token_bytes(12)
    data = key.encode("utf-8")
    sealed = bytes(a ^ b for a, b in zip(data, _keystream(nonce, len(data)), strict=True))
    return {**configuration, "downlinkAsKey": SEALED + nonce.hex() + sealed.hex()}


def open_as_key(configuration: dict[str, Any]) -> dict[str, Any]:
    """The configuration as read from the database: ``downlinkAsKey`` as given again."""
    key = configuration.get("downlinkAsKey")
    if not isinstance(key, str) or not key.startswith(SEALED):
        return configuration
    try:
        raw = bytes.fromhex(key[len(SEALED) :])
        nonce, sealed = raw[:12], raw[12:]
        clear = bytes(a ^ b for a, b in zip(sealed, _keystream(nonce, len(sealed)), strict=True)).decode()
    except ValueError:
        return configuration
    return {**configuration, "downlinkAsKey": clear}


def as_key_of(stored: Any) -> str | None:
    """The stored ``downlinkAsKey`` itself, or None (none set, or only the hash an earlier version kept)."""
    if not isinstance(stored, str) or not stored or is_hashed_as_key(stored):
        return None
    return stored


def is_hashed_as_key(stored: str) -> bool:
    return stored.startswith(HASHED) and len(stored) == len(HASHED) + 64


def as_key_matches(stored: str, given: str) -> bool:
    """Constant-time check of a downlink's AS_KEY against the stored ``downlinkAsKey``."""
    if is_hashed_as_key(stored):
        return hmac.compare_digest(_sha256(given), stored)  # the hash an earlier version kept
    return hmac.compare_digest(given.encode(), stored.encode())
