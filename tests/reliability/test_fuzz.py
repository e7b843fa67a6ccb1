"""Fuzz every operation of /_emulator/openapi.json with schemathesis, in-process (ASGI).

Bodies, ids and query strings that fit the document and ones that break it (schemathesis' positive and
negative modes): the emulator never answers 5xx, never shows a traceback, and every 4xx carries the
error body of its surface. Outbound requests (endpoint calls, forwards) go to a mock transport, not the
network. ``IOTCLI_FUZZ_EXAMPLES=200 IOTCLI_FUZZ_COVERAGE=1`` makes a longer, deeper local run.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

import tests.conformance.iotflow_strict as iotflow_strict
from iotcli.emulator.app import create_app, route_tables
from iotcli.emulator.openapi import ERROR_SCHEMAS, build_openapi, error_schema_name
from iotcli.emulator.settings import EmulatorSettings
from tests.conformance import thinger_strict
from tests.harness import TEST_TOKEN, TEST_USER

EXAMPLES = int(os.environ.get("IOTCLI_FUZZ_EXAMPLES", "10"))


def _outbound(request: httpx.Request) -> httpx.Response:
    """Every endpoint call or forward the fuzzer causes lands here: half fail, half succeed."""
    if len(request.url.path) % 2:
        return httpx.Response(500, text="<html>boom</html>")
    return httpx.Response(200, json={"ok": True})


def fresh_app() -> Any:
    return create_app(
        EmulatorSettings(
            data_dir=None,
            token=TEST_TOKEN,
            user=TEST_USER,
            time_scale=0.001,
            outbound_transport=httpx.MockTransport(_outbound),
        )
    )


schema = schemathesis.openapi.from_dict(build_openapi(route_tables(), "http://testserver"))
# The coverage phase (deterministic boundary cases for every field) costs ~10 s of CPU at collection time
# for this document; the bad-input matrix covers those cases by hand, so it runs only on request.
PHASES = ["examples", "fuzzing"] + (["coverage"] if os.environ.get("IOTCLI_FUZZ_COVERAGE") else [])
schema.config.phases.update(phases=PHASES)
schema.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
    max_examples=EXAMPLES,
)


#: Operations whose declared parameters and body are as strict as their handler (issue 11); the
#: positive-data check runs on these. Others still declare some query parameters as plain strings.
STRICT_OPERATIONS = {
    "GET /_emulator/events",
    "GET /_emulator/deliveries",
    "GET /_emulator/lorawan/downlinks",
    "POST /_emulator/clock/advance",
    # The emulator's own admin operations (admin.py, openapi.py) ...
    "GET /_emulator/health",
    "POST /_emulator/reset",
    "GET /_emulator/clock",
    "GET /_emulator/deliveries/{id}",
    "POST /_emulator/deliveries/{id}/replay",
    "GET /_emulator/openapi.json",
    # ... and the sinks: their scripts (respond, default, delay, headers, downlink) and recorded requests.
    "POST /_emulator/sinks",
    "GET /_emulator/sinks",
    "GET /_emulator/sinks/{name}",
    "PUT /_emulator/sinks/{name}",
    "DELETE /_emulator/sinks/{name}",
    "GET /_emulator/sinks/{name}/requests",
    "DELETE /_emulator/sinks/{name}/requests",
    *(
        f"{method} {path}"
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
        for path in ("/_emulator/sinks/{name}/in", "/_emulator/sinks/{name}/in/{path}")
    ),
    # IoT Flow: connectors, connections (both paths), downlinkMessages, the LRC tunnel, LoRaWAN uplinks.
    *iotflow_strict.STRICT_IOTFLOW_OPERATIONS,
}


def breaks_an_unstated_rule(case: schemathesis.Case) -> bool:
    """A rule a JSON Schema cannot state (the document says it in words), broken by this case: a sink's
    random delay ``[min, max]`` needs min <= max; the IoT Flow ones are ``iotflow_strict``'s."""
    if iotflow_strict.breaks_an_unstated_rule(case):
        return True
    delay = case.body.get("delay") if isinstance(case.body, dict) else None
    return (
        isinstance(delay, list)
        and len(delay) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in delay)
        and delay[0] > delay[1]
    )


@pytest.fixture
def app() -> Any:
    """A fresh in-memory emulator per operation: schemathesis ends the app's lifespan after each test."""
    return fresh_app()


def check(case: schemathesis.Case, response: Any) -> None:
    where = f"{case.method} {case.formatted_path}"
    status = response.status_code
    text = response.text
    assert status < 500, f"{where} answered {status}: {text[:500]}"
    assert "Traceback" not in text and 'File "/' not in text, f"{where} leaked a traceback: {text[:500]}"
    if 400 <= status < 500:
        try:
            body = response.json()
        except ValueError:
            raise AssertionError(
                f"{where} answered {status} without a JSON error body: {text[:200]}"
            ) from None
        shape = error_schema_name(case.path)
        try:
            jsonschema.validate(body, ERROR_SCHEMAS[shape])
        except jsonschema.ValidationError as exc:
            raise AssertionError(
                f"{where} answered {status} with {body!r}: not a {shape}: {exc.message}"
            ) from None
        message = body["message"] if shape == "IotFlowError" else body["error"]["message"]
        assert message.strip(), f"{where} answered {status} with an empty message"


@schema.parametrize()
@settings(
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    max_examples=EXAMPLES,
)
def test_fuzz(case: schemathesis.Case, app: Any) -> None:
    if isinstance(case.query, dict):
        case.query.pop("follow", None)  # an event stream never ends by itself
    operation = f"{case.method} {case.path}"
    if operation in thinger_strict.THINGER_OPERATIONS:
        thinger_strict.aim(case)
    response = case.call(app=app, headers={"Authorization": f"Bearer {TEST_TOKEN}"}, timeout=10)
    check(case, response)
    if (operation in STRICT_OPERATIONS and not breaks_an_unstated_rule(case)) or (
        operation in thinger_strict.STRICT_THINGER_OPERATIONS
        and not thinger_strict.breaks_an_unstated_rule(case, response)
    ):
        # The document is as strict as the server here: data it calls valid is not refused with a 400
        # (integer parameters typed integer, patterns, enums, bounds; schemathesis ST202 when looser).
        case.validate_response(response, checks=[positive_data_acceptance])
