"""Requests the real Thinger server's OpenAPI document calls valid are not refused with a 400.

Source: thinger-io/thinger-node's server OpenAPI document (``iotcli/data/thinger-openapi.json``, see
``tests/data/README.md``). schemathesis generates positive requests from that document for every
operation the emulator serves and holds the answers to ``positive_data_acceptance`` (ST202: no 400 for
valid data), as ``tests/reliability/test_fuzz.py`` does with the emulator's own document.

Two adjustments, both the contract's: the ``{user}`` is the account's (another user's request stops at
the account check), and path ids are made to match the contract's id rule ``^[a-zA-Z0-9_-]{1,32}$``
(CONTRACT section 1): the real document writes its id patterns without the closing ``$``, so it calls
``q£`` a valid device id, which the emulator refuses with a 400 on purpose. Cases that break a rule no
schema can state are skipped as in test_fuzz (``thinger_strict.breaks_an_unstated_rule``).
``IOTCLI_FUZZ_EXAMPLES=50`` makes a deeper local run.
"""

from __future__ import annotations

import copy
import os
import re
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from iotcli.emulator.app import create_app
from iotcli.emulator.settings import EmulatorSettings
from iotcli.emulator.thinger.validation import document
from tests.conformance import thinger_strict
from tests.harness import TEST_TOKEN, TEST_USER

EXAMPLES = int(os.environ.get("IOTCLI_FUZZ_EXAMPLES", "5"))
ID = re.compile(r"[a-zA-Z0-9_-]{1,32}")
NOT_ID = re.compile(r"[^a-zA-Z0-9_-]")


def _served() -> dict[str, Any]:
    """The real document, cut to the operations the emulator serves."""
    doc = copy.deepcopy(document())
    served = {tuple(op.split(" ", 1)) for op in thinger_strict.STRICT_THINGER_OPERATIONS}
    paths: dict[str, Any] = {}
    for path, item in doc["paths"].items():
        kept = {k: v for k, v in item.items() if k == "parameters" or (k.upper(), path) in served}
        if len(kept) > ("parameters" in kept):
            paths[path] = kept
    doc["paths"] = paths
    doc["servers"] = [{"url": "http://testserver"}]
    return doc


schema = schemathesis.openapi.from_dict(_served())
schema.config.generation.update(modes=[schemathesis.GenerationMode.POSITIVE], max_examples=EXAMPLES)


@pytest.fixture
def app() -> Any:
    """A fresh in-memory emulator per operation."""
    return create_app(EmulatorSettings(data_dir=None, token=TEST_TOKEN, user=TEST_USER, time_scale=0.001))


def as_contract_ids(case: schemathesis.Case) -> None:
    """The account user, and every other path id cut to the contract's id rule (see the docstring)."""
    params = case.path_parameters or {}
    for name, value in params.items():
        if name == "user":
            params[name] = TEST_USER
        elif name == "version":
            params[name] = str(value)[:2]  # the document's ^(?:v1|v2) allows any suffix too
        elif not ID.fullmatch(str(value)):
            params[name] = ("x" + NOT_ID.sub("", str(value)))[:32]


@schema.parametrize()
@settings(deadline=None, database=None, suppress_health_check=list(HealthCheck), max_examples=EXAMPLES)
def test_valid_requests_of_the_real_document_are_accepted(case: schemathesis.Case, app: Any) -> None:
    as_contract_ids(case)
    response = case.call(app=app, headers={"Authorization": f"Bearer {TEST_TOKEN}"}, timeout=10)
    assert response.status_code < 500, response.text[:500]
    if not thinger_strict.breaks_an_unstated_rule(case, response):
        case.validate_response(response, checks=[positive_data_acceptance])
