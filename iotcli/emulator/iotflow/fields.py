"""LoRaWAN message fields as the emulator checks them: the normal form, or a 400 naming the field.

The uplink ingress (DevEUI, FPort, payload hex), ``POST /iot-flow/downlinkMessages/{uuid}`` (a
``DevEUI_downlink`` body) and the LRC tunnel (the same fields as query parameters) share these checks;
the rules themselves are ``iotcli.models.lorawan``'s.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from iotcli.emulator.errors import ApiProblem
from iotcli.models.lorawan import MAX_FCNT, is_fport, is_payload_hex
from iotcli.models.lorawan import normalize_deveui as deveui_normal_form

#: LoRaWAN's largest application payload (bytes) [chosen limit].
MAX_PAYLOAD = 242


def normalize_deveui(value: Any, field_name: str = "DevEUI") -> str:
    if not isinstance(value, str):
        raise ApiProblem(400, f"field '{field_name}' is required: 16 hex digits (dashes allowed)")
    deveui = deveui_normal_form(value)
    if deveui is None:
        raise ApiProblem(
            400, f"field '{field_name}' must be 16 hex digits (dashes allowed), got '{value[:40]}'"
        )
    return deveui


def whole_number(value: Any) -> Any:
    """A JSON number without a fraction (``5.0``) as the integer it is (JSON Schema's ``integer`` takes
    it, and so does the real, Jackson-based server); any other value as it is."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _digits(value: str) -> bool:
    return value.isascii() and value.isdigit()  # str.isdigit alone takes "²", which int() refuses


def parse_fport(value: Any, field_name: str = "FPort") -> int:
    if type(value) is not int:  # the common case first: a JSON integer (this runs per uplink)
        if isinstance(value, str) and _digits(value):
            value = int(value)
        value = whole_number(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiProblem(400, f"field '{field_name}' must be an integer between 1 and 224")
    if not is_fport(value):
        raise ApiProblem(400, f"field '{field_name}' must be between 1 and 224, got {value}")
    return value


def parse_payload_hex(value: Any, field_name: str = "payload_hex") -> str:
    if not isinstance(value, str) or not is_payload_hex(value):
        raise ApiProblem(400, f"field '{field_name}' is not valid hex (an even number of 0-9a-f digits)")
    if len(value) // 2 > MAX_PAYLOAD:
        raise ApiProblem(400, f"field '{field_name}' is longer than {MAX_PAYLOAD} bytes")
    return value.lower()


#: The fields of ``DevEUI_downlink`` [source: actility/tpx-iot-flow-doc docs/Message/Downlink_Message/README.md].
DOWNLINK_KEYS = {
    "Time", "DevEUI", "FPort", "payload_hex", "payload", "Confirmed", "FlushDownlinkQueue", "ValidityTime",
    "FCntDn", "AFCntDn", "CorrelationID", "AS_ID", "AS_KEY", "Token", "RetryIneligibleGateways", "DriverCfg",
}  # fmt: skip
#: "64 bits ID", "STRING (64 bits hexadecimal)": 1 to 16 hex digits; the docs show "4434704901C7450B"
#: (Downlink_Message, thingpark-integrations downlink_frame_sent_report.json) and "1234" (the LRC
#: application-server examples, send_downlink_with_token.py).
CORRELATION = re.compile(r"^[0-9a-fA-F]{1,16}$")
TOKEN = re.compile(r"^[0-9a-fA-F]{64}$")
#: A ValidityTime in seconds: the largest accepted (about 10 years) [chosen].
MAX_VALIDITY_SECONDS = 10 * 365 * 86400
#: Fields kept as given in the downlink's ``extra`` (listed; not acted on by the emulator).
EXTRA_KEYS = ("Time", "AFCntDn", "RetryIneligibleGateways", "Token", "DriverCfg")


class Fields:
    """How a downlink's fields are named in errors: ``DevEUI_downlink.FPort`` in a JSON body, ``FPort``
    in the LRC tunnel's query (where the hex payload is ``Payload``)."""

    def __init__(self, prefix: str = "DevEUI_downlink.", rename: dict[str, str] | None = None) -> None:
        self.prefix = prefix
        self.rename = rename or {}

    def __call__(self, key: str) -> str:
        return self.prefix + self.rename.get(key, key)


BODY_FIELDS = Fields()


def _flag(body: dict[str, Any], key: str, name: Fields, default: bool = False) -> bool:
    value = body.get(key, default)
    if value in (True, 1, "1", "true", "True"):
        return True
    if value in (False, 0, "0", "false", "False", None):
        return False
    raise ApiProblem(400, f"field '{name(key)}' must be 0 or 1 (or true/false)")


def _iso(value: Any, key: str, name: Fields) -> float:
    if not isinstance(value, str):
        raise ApiProblem(400, f"field '{name(key)}' must be an ISO 8601 time")
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ApiProblem(400, f"field '{name(key)}' must be an ISO 8601 time, got '{value[:40]}'") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _counter(value: Any, key: str, name: Fields) -> int | None:
    """A 32-bit unsigned frame counter (a number, or digits as Jackson coerces them)."""
    if value is None:
        return None
    if isinstance(value, str) and _digits(value.strip()):
        value = int(value)
    value = whole_number(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_FCNT:
        raise ApiProblem(400, f"field '{name(key)}' must be an integer between 0 and {MAX_FCNT}")
    return value


def validity_time(value: Any, now: float, name: Fields = BODY_FIELDS) -> float:
    """``ValidityTime``: "ISO 8601 timestamp or Duration in seconds" [source] -> emulator epoch seconds.

    A duration counts from the downlink's arrival (emulator clock): a number, or a string of digits.
    """
    seconds: Any = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*", value):
        seconds = float(value)
    if seconds is not None:
        if not 0 <= seconds <= MAX_VALIDITY_SECONDS:
            raise ApiProblem(
                400,
                f"field '{name('ValidityTime')}' in seconds must be between 0 and {MAX_VALIDITY_SECONDS}",
            )
        return now + float(seconds)
    if not isinstance(value, str):
        raise ApiProblem(
            400, f"field '{name('ValidityTime')}' must be an ISO 8601 time or a duration in seconds"
        )
    return _iso(value, "ValidityTime", name)


def correlation_id(value: Any, name: Fields = BODY_FIELDS) -> str:
    """The CorrelationID as given ('' when none): 1 to 16 hex digits (a JSON number of digits too)."""
    if value is None or value == "":
        return ""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if not isinstance(value, str) or not CORRELATION.fullmatch(value):
        raise ApiProblem(400, f"field '{name('CorrelationID')}' must be 1 to 16 hex digits (64 bits)")
    return value


def validate_downlink(
    body: Any, downlink_port: int | None, now: float = 0.0, name: Fields = BODY_FIELDS
) -> dict[str, Any]:
    """The checked downlink (normalised) or a 400 naming the field."""
    if not isinstance(body, dict) or not isinstance(body.get("DevEUI_downlink"), dict):
        raise ApiProblem(400, 'request body must be {"DevEUI_downlink": {...}}')
    extra = sorted(set(body) - {"DevEUI_downlink"})
    if extra:
        raise ApiProblem(400, f"unknown field '{extra[0]}'")
    dl = body["DevEUI_downlink"]
    unknown = sorted(set(dl) - DOWNLINK_KEYS)
    if unknown:
        raise ApiProblem(400, f"unknown field '{name(unknown[0])}'")
    deveui = normalize_deveui(dl.get("DevEUI"), name("DevEUI"))
    if "FPort" in dl:
        fport = parse_fport(dl["FPort"], name("FPort"))
    elif downlink_port is not None:
        fport = downlink_port
    else:
        raise ApiProblem(400, f"field '{name('FPort')}' is required (the connection has no downlinkPort)")
    has_hex, has_payload = "payload_hex" in dl, "payload" in dl
    if has_hex == has_payload:
        raise ApiProblem(400, f"give exactly one of '{name('payload_hex')}' or '{name('payload')}'")
    payload_hex = parse_payload_hex(dl["payload_hex"], name("payload_hex")) if has_hex else None
    payload = dl.get("payload")
    if has_payload and not isinstance(payload, dict | str):
        raise ApiProblem(400, f"field '{name('payload')}' must be an object")
    fcnt_dn = _counter(dl.get("FCntDn"), "FCntDn", name)
    afcnt_dn = _counter(dl.get("AFCntDn"), "AFCntDn", name)
    validity = validity_time(dl["ValidityTime"], now, name) if dl.get("ValidityTime") is not None else None
    if dl.get("Time") is not None:
        _iso(dl["Time"], "Time", name)
    for key in ("AS_ID", "AS_KEY"):
        if key in dl and not isinstance(dl[key], str):
            raise ApiProblem(400, f"field '{name(key)}' must be a string")
    token = dl.get("Token")
    if token is not None and (not isinstance(token, str) or not TOKEN.fullmatch(token)):
        raise ApiProblem(400, f"field '{name('Token')}' must be 64 hex digits (a SHA-256)")
    if "DriverCfg" in dl and not isinstance(dl["DriverCfg"], dict):
        raise ApiProblem(400, f"field '{name('DriverCfg')}' must be an object")
    kept = {key: dl[key] for key in EXTRA_KEYS if dl.get(key) is not None}
    if "RetryIneligibleGateways" in kept:
        # Multicast only [source]: stored as 0/1, no effect on a unicast class-A downlink.
        kept["RetryIneligibleGateways"] = int(_flag(dl, "RetryIneligibleGateways", name, True))
    if afcnt_dn is not None:
        kept["AFCntDn"] = afcnt_dn
    return {
        "deveui": deveui,
        "fport": fport,
        "payload_hex": payload_hex,
        "payload": payload,
        "confirmed": _flag(dl, "Confirmed", name),
        "flush": _flag(dl, "FlushDownlinkQueue", name),
        # The counter the AS encrypted with: FCntDn (LoRaWAN 1.0) or else AFCntDn (1.1) [source].
        "fcnt_dn": fcnt_dn if fcnt_dn is not None else afcnt_dn,
        "correlation_id": correlation_id(dl.get("CorrelationID"), name),
        "validity": validity,
        "as_id": dl.get("AS_ID"),
        "as_key": dl.get("AS_KEY"),
        "extra": kept,
    }


# -- the same rules as JSON Schemas, for the OpenAPI document --------------------------------------
#: ``(?![\s\S])`` ends a pattern where ``$`` would also match before a final newline (Python's ``re``),
#: which the checks above refuse.
END = r"(?![\s\S])"
DEVEUI_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": rf"^[-:]*(?:[0-9a-fA-F][-:]*){{16}}{END}",
    "description": "16 hex digits, dashes or colons allowed between them",
}
FPORT_SCHEMA: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": 224}
PAYLOAD_HEX_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": rf"^(?:[0-9a-fA-F]{{2}}){{0,{MAX_PAYLOAD}}}{END}",
    "description": f"the payload as hex, at most {MAX_PAYLOAD} bytes",
}
COUNTER_SCHEMA: dict[str, Any] = {"type": "integer", "minimum": 0, "maximum": MAX_FCNT}
#: In a ``DevEUI_downlink`` body FPort and the counters may be strings of digits, as ThingPark's own
#: examples write them (``"FPort": "8"``, thingpark-integrations message_body_examples/downlink_frame.json).
FPORT_OR_DIGITS_SCHEMA: dict[str, Any] = {
    "anyOf": [
        FPORT_SCHEMA,
        {"type": "string", "pattern": rf"^0*(?:[1-9]|[1-9][0-9]|1[0-9]{{2}}|2[01][0-9]|22[0-4]){END}"},
    ]
}
COUNTER_OR_DIGITS_SCHEMA: dict[str, Any] = {
    "anyOf": [COUNTER_SCHEMA, {"type": "string", "pattern": rf"^ *[0-9]{{1,9}} *{END}"}]
}
FLAG_SCHEMA: dict[str, Any] = {"enum": [0, 1, True, False, "0", "1", "true", "false", "True", "False", None]}
#: An ISO 8601 time as ``datetime.fromisoformat`` reads it (a trailing ``Z`` for UTC too); a day the
#: month does not have (02-30) passes the pattern and is refused by the check.
ISO_TIME_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": rf"^[1-9][0-9]{{3}}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{{1,6}})?)?"
    rf"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?{END}",
}
VALIDITY_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "number", "minimum": 0, "maximum": MAX_VALIDITY_SECONDS},
        {"type": "string", "pattern": rf"^ *[0-9]{{1,8}}(?:\.[0-9]+)? *{END}"},
        ISO_TIME_SCHEMA,
    ],
    "description": "an ISO 8601 time, or a duration in seconds from the downlink's arrival",
}
CORRELATION_SCHEMA: dict[str, Any] = {"type": "string", "pattern": rf"^[0-9a-fA-F]{{1,16}}{END}"}
TOKEN_SCHEMA: dict[str, Any] = {"type": "string", "pattern": rf"^[0-9a-fA-F]{{64}}{END}"}

#: The body of ``POST /iot-flow/downlinkMessages/{uuid}``: what ``validate_downlink`` takes. (FPort may
#: be left out only when the connection has a ``downlinkPort``; the schema cannot know that.)
DOWNLINK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["DevEUI_downlink"],
    "additionalProperties": False,
    "properties": {
        "DevEUI_downlink": {
            "type": "object",
            "required": ["DevEUI"],
            "additionalProperties": False,
            "oneOf": [{"required": ["payload_hex"]}, {"required": ["payload"]}],
            "properties": {
                "DevEUI": DEVEUI_SCHEMA,
                "FPort": FPORT_OR_DIGITS_SCHEMA,
                "payload_hex": PAYLOAD_HEX_SCHEMA,
                "payload": {
                    "type": ["object", "string"],
                    "description": "a payload for the driver to encode",
                },
                "Confirmed": FLAG_SCHEMA,
                "FlushDownlinkQueue": FLAG_SCHEMA,
                "RetryIneligibleGateways": FLAG_SCHEMA,
                "ValidityTime": VALIDITY_SCHEMA,
                "FCntDn": COUNTER_OR_DIGITS_SCHEMA,
                "AFCntDn": COUNTER_OR_DIGITS_SCHEMA,
                "CorrelationID": CORRELATION_SCHEMA,
                "Time": ISO_TIME_SCHEMA,
                "AS_ID": {"type": "string"},
                "AS_KEY": {"type": "string"},
                "Token": TOKEN_SCHEMA,
                "DriverCfg": {"type": "object"},
            },
        }
    },
}
