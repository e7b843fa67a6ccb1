"""Which Thinger operations the fuzzer's positive-data check (schemathesis ST202) covers, and the rules
their OpenAPI document cannot state (tests/reliability/test_fuzz.py uses both).

Every Thinger operation of /_emulator/openapi.json is checked: a request the document calls valid is
not refused with a 400. The rules below depend on stored state, the clock, or two fields at once, which
a JSON Schema of one operation cannot say; a case that breaks one is still fuzzed (no 5xx, error body of
its surface), only not held to ST202.
"""

from __future__ import annotations

import time
from typing import Any

import schemathesis

from iotcli.emulator import oauth, thinger
from iotcli.emulator.http import MAX_EPOCH_MS
from tests.harness import TEST_USER

#: Every Thinger operation: the surface's route tables and its OAuth token route.
THINGER_OPERATIONS = {
    f"{spec.method} {spec.path}"
    for table in [*thinger.ROUTE_TABLES, oauth.routes]
    for spec in table.specs
    if not spec.path.startswith("/iot-flow/")
}

#: Thinger operations left out of the check, with the reason (none today).
LEFT_OUT: dict[str, str] = {}

STRICT_THINGER_OPERATIONS = THINGER_OPERATIONS - set(LEFT_OUT)

#: 400 answers that name stored state, not a malformed request: the contract answers a taken id with
#: 400 (the real server's code), a callback or export names a bucket or endpoint that must exist, a
#: body repeats a path id with another value, an endpoint's stored configuration cannot be called.
STATE_CONFLICTS = (
    "already exists",
    "does not exist",
    "cannot be changed",
    "cannot be called",
    "is disabled",
    "takes its data from",
)


def aim(case: schemathesis.Case) -> None:
    """Send the case to the account user: with a random ``{user}`` every request stops at the account
    check (403), and nothing behind it would be fuzzed."""
    if case.path_parameters and "user" in case.path_parameters:
        case.path_parameters["user"] = TEST_USER


def _not_a_future_time(value: Any) -> bool:
    """An expiry the routes refuse: not null or 0, and not after now or after the year 9999 (Unix
    seconds below 1e11, else ms). A day of margin: the fuzzer's emulator clock runs 1000 times faster
    than the wall clock."""
    if value is None or value == 0 or isinstance(value, bool) or not isinstance(value, int | float):
        return False
    ms = value * 1000 if abs(value) < 100_000_000_000 else value
    return ms <= (time.time() + 86_400) * 1000 or ms > MAX_EPOCH_MS


def breaks_an_unstated_rule(case: schemathesis.Case, response: Any) -> bool:
    """Whether a Thinger case breaks a rule its document cannot state (see the module docstring)."""
    body = case.body if isinstance(case.body, dict) else {}
    query = case.query if isinstance(case.query, dict) else {}
    if _not_a_future_time(body.get("token_expiration")) or _not_a_future_time(body.get("expire")):
        return True  # an expiry must be in the future (on the emulator clock) and before 10000
    if query.get("agg_type") not in (None, "") and not query.get("agg"):
        return True  # agg_type needs agg (two query parameters at once)
    if body.get("callback") == "endpoint" and not body.get("endpoint"):
        return True  # an export calling back an endpoint names it (two fields at once)
    devices = body.get("devices")
    if isinstance(devices, list):
        ids = [d.get("device") for d in devices if isinstance(d, dict)]
        if len(ids) != len(set(map(str, ids))):
            return True  # a bulk create lists each device once (uniqueItems cannot say "by its id")
    if response.status_code == 400:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            return False
        return any(words in message for words in STATE_CONFLICTS)
    return False
