"""Which IoT Flow operations the fuzzer's positive-data check (schemathesis ST202) covers, and the rules
their OpenAPI document cannot state (tests/reliability/test_fuzz.py uses both).

Every operation of the IoT Flow surface (its connectors, connections on both paths, downlinkMessages,
the LRC tunnel) and of the emulator's LoRaWAN side is checked: a request the document calls valid is not
refused with a 400. A case that breaks one of the rules below is still fuzzed (no 5xx, the error body
of its surface), only not held to ST202.
"""

from __future__ import annotations

from typing import Any

import schemathesis

from iotcli.emulator import iotflow, oauth

#: Every IoT Flow and LoRaWAN operation of /_emulator/openapi.json.
IOTFLOW_OPERATIONS = {
    f"{spec.method} {spec.path}"
    for table in [*iotflow.ROUTE_TABLES, oauth.routes]
    for spec in table.specs
    if spec.path.startswith(("/iot-flow/", "/thingpark/", "/_emulator/lorawan/"))
}

#: Operations left out of the check, with the reason.
LEFT_OUT: dict[str, str] = {
    # oauth.py: the client's credentials come in the form (client_id, client_secret) or in an HTTP
    # Basic Authorization header instead; a JSON Schema of the form cannot say "one or the other".
    "POST /iot-flow/v1/oauth/token": "client credentials in the form or in HTTP Basic: not a body rule",
}

STRICT_IOTFLOW_OPERATIONS = IOTFLOW_OPERATIONS - set(LEFT_OUT)


def breaks_an_unstated_rule(case: schemathesis.Case) -> bool:
    """An uplink naming connections that must exist (the fuzzer's emulator has none), or overriding
    ``DevEUI_uplink.DevEUI`` with another device than its own ``DevEUI``: state and a rule between two
    fields, which the uplink's schema can only say in words."""
    if f"{case.method} {case.path}" != "POST /_emulator/lorawan/uplinks" or not isinstance(case.body, dict):
        return False
    body: dict[str, Any] = case.body
    if "connections" in body:
        return True
    override = body.get("DevEUI_uplink")
    return (
        isinstance(override, dict)
        and "DevEUI" in override
        and _compact(override["DevEUI"]) != _compact(body.get("DevEUI"))
    )


def _compact(value: Any) -> Any:
    return value.replace("-", "").replace(":", "").upper() if isinstance(value, str) else value
