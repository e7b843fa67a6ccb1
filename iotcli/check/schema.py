"""The scenario file: TOML, read and checked whole before anything runs (docs/reference/check.md).

::

    name = "HTTP device with a bucket"
    vars = { deveui = "0018B20000000B20" }     # {{deveui}} in any value below

    [setup]
    apply = "env.toml"                         # an environment file (iotcli apply), relative to this file
    [setup.buckets.readings]                   # and/or inline sections of the same format
    config = { source = "write" }

    [[step]]
    name = "send three readings"
    uplink = { device = "sensor-1", data = { n = "{{i}}" }, repeat = 3 }
    expect = [
      { response = 200 },
      { bucket = "readings", count = 3, fields = { "$.n" = 3 } },
    ]

This module declares the format (the keys of each action, wait and assertion, and what a scenario holds);
``iotcli.check.loader`` reads a file and checks it against these tables. A bad file is a ``ScenarioError``
(exit 2) naming the file, the step and the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from iotcli.errors import UsageError

HINT = "see docs/reference/check.md for the scenario format"

#: The kinds of value a key takes (checked by ``_check_value``).
STR, INT, NUM, BOOL, TABLE, ANY = "string", "integer", "number", "boolean", "table", "any"
DURATION, MATCHER, COUNT, MATCHERS, PATH, POSINT = (
    "duration",
    "matcher",
    "count",
    "matchers",
    "jsonpath",
    "positive integer",
)
RECORD, NUMBERS, STRS = "record", "numbers", "strings"

#: The LoRaWAN downlink fields a ``downlink`` action may set (IoT Flow ``DevEUI_downlink``).
DOWNLINK_FIELDS = (
    "Time", "DevEUI", "FPort", "payload_hex", "payload", "Confirmed", "FlushDownlinkQueue", "ValidityTime",
    "FCntDn", "AFCntDn", "CorrelationID", "AS_ID", "AS_KEY", "Token", "RetryIneligibleGateways", "DriverCfg",
)  # fmt: skip

#: action -> {key: (kind, required)}.
ACTIONS: dict[str, dict[str, tuple[str, bool]]] = {
    "uplink": {"device": (STR, True), "data": (ANY, False), "token": (STR, False), "repeat": (POSINT, False)},
    "lorawan": {
        "deveui": (STR, True),
        "fport": (INT, True),
        "payload_hex": (STR, False),
        "payload": (TABLE, False),
        "fields": (TABLE, False),
        "repeat": (POSINT, False),
    },
    "downlink": {
        "connection": (STR, False),
        "url": (STR, False),
        **{k: (ANY, False) for k in DOWNLINK_FIELDS},
    },
    "token": {"device": (STR, True), "name": (STR, True)},
    "advance": {},  # a duration, not a table
    "wait": {},  # checked by WAITS
}
#: ``wait = { <subject> = ..., ... }``: subject -> its other keys (timeout and clock go with every one).
WAITS: dict[str, dict[str, tuple[str, bool]]] = {
    "sink": {"count": (POSINT, False), "header": (STR, False), "field": (STR, False)},
    "bucket": {"count": (POSINT, False)},
    "deliveries": {
        "count": (POSINT, False),
        "connection": (STR, False),
        "device": (STR, False),
    },
    "device": {"connected": (BOOL, True)},
    "downlinks": {"count": (POSINT, False), "deveui": (STR, False)},
    "event": {"count": (POSINT, False)},
    "events": {"count": (POSINT, False)},  # the same as event (the name the assertion uses)
}
WAIT_COMMON = {"timeout": (DURATION, False), "clock": (STR, False)}
#: ``expect`` entries: subject -> its keys (the first subject key found in an entry names its kind).
EXPECTS: dict[str, dict[str, tuple[str, bool]]] = {
    "response": {"value": (MATCHER, False), "fields": (MATCHERS, False), "headers": (MATCHERS, False)},
    "bucket": {"count": (COUNT, False), "record": (RECORD, False), "value": (MATCHER, False), "fields": (MATCHERS, False)},
    "property": {"device": (STR, True), "value": (MATCHER, False), "fields": (MATCHERS, False)},
    "sink": {
        "count": (COUNT, False),
        "method": (MATCHER, False),
        "path": (MATCHER, False),
        "query": (MATCHERS, False),
        "headers": (MATCHERS, False),
        "fields": (MATCHERS, False),
    },
    "deliveries": {
        "count": (COUNT, False),
        "connection": (STR, False),
        "device": (STR, False),
        "kind": (STR, False),
        "attempts": (MATCHER, False),
        "gaps": (NUMBERS, False),
        "tolerance": (NUM, False),
        "reason": (MATCHER, False),
        "took": (MATCHER, False),
    },
    "downlinks": {"count": (COUNT, False), "deveui": (STR, False), "cause": (MATCHER, False)},
    "events": {"count": (COUNT, False), "fields": (MATCHERS, False)},
    "device": {"connected": (BOOL, True)},
}  # fmt: skip
EXPECT_COMMON = {"label": (STR, False)}
#: Subject kinds of ``expect`` that read the emulator's own routes (skipped on a real tenant).
EMULATOR_ONLY_EXPECTS = frozenset({"sink", "deliveries", "downlinks", "events"})
EMULATOR_ONLY_ACTIONS = frozenset({"advance", "lorawan"})
EMULATOR_ONLY_WAITS = frozenset({"sink", "deliveries", "downlinks", "event", "events"})
#: ``within`` of a step that checks sinks, deliveries, downlinks or events and does not say (seconds).
ASYNC_WITHIN = 2.0
STEP_KEYS = {"name", "description", "expect", "capture", "within", *ACTIONS}
TOP_KEYS = {"name", "description", "vars", "setup", "step"}
SETUP_SECTIONS = ("sinks", "buckets", "endpoints", "devices", "connections")
STATUSES = {
    "deliveries": ("any", "pending", "delivered", "dropped", "failed", "expired"),
    "downlinks": ("any", "queued", "sent", "rejected", "expired"),
}


class ScenarioError(UsageError):
    """A scenario file that cannot run (exit 2): the message names the file, the step and the key."""


@dataclass
class Setup:
    envs: list[Any]  # iotcli.provision.EnvFile, checked at load


@dataclass
class Step:
    index: int
    name: str
    action: str | None = None
    spec: Any = None  # the action's value
    expect: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    capture: dict[str, Any] = field(default_factory=dict)
    within: float = 0.0
    description: str = ""

    @property
    def needs_emulator(self) -> bool:
        if self.action in EMULATOR_ONLY_ACTIONS:
            return True
        return self.action == "wait" and _wait_subject(self.spec) in EMULATOR_ONLY_WAITS


@dataclass
class Scenario:
    path: str
    name: str
    description: str = ""
    vars: dict[str, Any] = field(default_factory=dict)
    setup: Setup | None = None
    steps: list[Step] = field(default_factory=list)


#: ``{{name}}``: a var, a setup token (``tokens.DEVICE.NAME``) or an earlier step's capture.
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.\-/]*)\s*\}\}")
#: Rendered by the sending library itself, per uplink.
SENDING_NAMES = frozenset({"i", "n", "now", "now_iso", "random", "fcnt"})


def _wait_subject(spec: dict[str, Any]) -> str:
    return next(k for k in WAITS if k in spec)
