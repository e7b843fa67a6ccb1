"""LoRaWAN wire rules and the request shapes around them: DevEUI, FPort, payload hex, the emulator's
uplink ingress (CONTRACT section 4) and the IoT Flow downlink (``{"DevEUI_downlink": {...}}``).
"""

from __future__ import annotations

import functools
import uuid
from typing import TYPE_CHECKING, Any

from iotcli.models.patterns import lazy_patterns

if TYPE_CHECKING:
    import re

    #: A DevEUI: 16 hex digits (written with dashes or colons between them, or not).
    DEVEUI_PATTERN: re.Pattern[str]
    #: Payload bytes as hex: two digits per byte (empty allowed).
    HEX_PATTERN: re.Pattern[str]

# Compiled when first used, not at import: a command without a DevEUI skips them.
_pattern, __getattr__ = lazy_patterns(
    __name__, {"DEVEUI_PATTERN": r"^[0-9A-Fa-f]{16}$", "HEX_PATTERN": r"^(?:[0-9A-Fa-f]{2})*$"}
)


#: The application FPorts (0 is MAC commands, 225..255 reserved).
FPORT_MIN = 1
FPORT_MAX = 224
#: LoRaWAN frame counters are 32-bit.
MAX_FCNT = 2**32 - 1


def normalize_deveui(value: str, *, strip: bool = False) -> str | None:
    """The DevEUI in its normal form (16 upper-case hex digits, no separators), or None when
    ``value`` is not one. Dashes and colons between the digits are dropped; ``strip`` also drops
    surrounding white space."""
    compact = value.replace("-", "").replace(":", "")
    if strip:
        compact = compact.strip()
    if not _pattern("DEVEUI_PATTERN").fullmatch(compact):
        return None
    return compact.upper()


def is_fport(value: int) -> bool:
    """Whether ``value`` is an application FPort (1..224)."""
    return FPORT_MIN <= value <= FPORT_MAX


def is_payload_hex(value: str) -> bool:
    """Whether ``value`` is bytes written as hex, two digits per byte."""
    return _pattern("HEX_PATTERN").fullmatch(value) is not None


# --- the emulator's LoRaWAN ingress: POST /_emulator/lorawan/uplinks ------------------------------

LORAWAN_UPLINKS_PATH = "/_emulator/lorawan/uplinks"
#: The fields of an ingress request.
UPLINK_KEYS = frozenset({"DevEUI", "FPort", "payload_hex", "payload", "connections", "DevEUI_uplink"})


def ingress_body(
    deveui: str,
    fport: int,
    payload_hex: str | None,
    payload: Any,
    connections: list[str],
    overrides: dict[str, Any] | None,
) -> dict[str, Any]:
    """The body of ``POST /_emulator/lorawan/uplinks`` (CONTRACT section 4)."""
    body: dict[str, Any] = {"DevEUI": deveui, "FPort": fport}
    if payload_hex is not None:
        body["payload_hex"] = payload_hex
    if payload is not None:
        body["payload"] = payload
    if connections:
        body["connections"] = connections
    if overrides:
        body["DevEUI_uplink"] = overrides
    return body


# --- IoT Flow downlinks: POST <downlinkUrl> {"DevEUI_downlink": {...}} ----------------------------

DOWNLINK_KEY = "DevEUI_downlink"
DOWNLINK_PATH = "/iot-flow/downlinkMessages"


def downlink_body(downlink: dict[str, Any]) -> dict[str, Any]:
    """The body posted to a downlinkUrl: the ``DevEUI_downlink`` object in its wrapper."""
    return {DOWNLINK_KEY: downlink}


def downlink_prefix(server: str) -> str:
    """``<server>/iot-flow/downlinkMessages/``: what every downlinkUrl of that server starts with."""
    return f"{server.rstrip('/')}{DOWNLINK_PATH}/"


@functools.lru_cache(maxsize=1024)
def downlink_url(server: str, connection: str) -> str:
    """``<server>/iot-flow/downlinkMessages/<uuid>``: a connection id that is a UUID (32 hex digits or
    dashed) in its dashed form; anything else as given. (Cached: the emulator writes one into every
    uplink it forwards, and parsing the UUID costs more than the rest of the URL.)"""
    try:
        ident = str(uuid.UUID(connection))
    except ValueError:
        ident = connection
    return f"{downlink_prefix(server)}{ident}"
