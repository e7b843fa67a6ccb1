"""The scenario runner against a real emulator: every step kind and assertion kind, holding and not."""

from __future__ import annotations

from typing import Any

import httpx

from iotcli.check import parse_scenario
from iotcli.check.report import ERROR, FAILED, PASSED, SKIPPED, RunReport, StepResult
from iotcli.check.runner import exit_status, run_scenarios
from iotcli.client.api import ApiClient
from iotcli.testing import Emulator


def run(emu: Emulator | ApiClient, text: str, **options: Any) -> RunReport:
    api = emu.client if isinstance(emu, Emulator) else emu
    return run_scenarios(api, [parse_scenario(text, "t.toml")], **options)


def steps(report: RunReport) -> dict[str, StepResult]:
    return {s.name: s for s in report.steps}


DEVICE_SETUP = """
vars = { dev = "sensor-1" }
[setup.buckets.readings]
config = { source = "write" }
[setup.devices.sensor-1]
tokens = ["ci"]
properties = { command = { led = true, level = 3 } }
callback = { actions = { write_bucket = "readings", send_property = "command" } }
"""


def test_http_device_steps_and_their_assertions_hold(emu: Emulator) -> None:
    report = run(
        emu,
        DEVICE_SETUP
        + """
[[step]]
name = "readings"
uplink = { device = "{{dev}}", token = "{{tokens.sensor-1.ci}}", data = { n = "{{i}}", t = "{{random:18:25}}", tag = "r{{i}}" }, repeat = 3 }
expect = [
  { response = 200, value = { led = true, level = 3 }, fields = { "$.level" = { ge = 3 } } },
  { bucket = "readings", count = 3 },
  { bucket = "readings", record = "first", fields = { "$.n" = 1, "$.tag" = "r1" } },
  { bucket = "readings", record = "last", value = { exists = true }, fields = { "$.n" = 3, "$.t" = { ge = 18, le = 25 } } },
  { property = "command", device = "sensor-1", fields = { "$.led" = true } },
  { device = "sensor-1", connected = true },
]

[[step]]
name = "a token of its own"
token = { device = "sensor-1", name = "extra" }
capture = { secret = "$.token" }
expect = { response = 200, fields = { "$.token" = { matches = "." } } }

[[step]]
name = "the captured token works"
uplink = { device = "sensor-1", token = "{{secret}}", data = { n = 4 } }
expect = [{ response = 200 }, { bucket = "readings", count = 4 }]
""",
    )
    assert report.ok, "\n".join(report.text_lines(verbose=True))
    assert [s.status for s in report.steps] == [PASSED] * 3
    first = report.steps[0]
    assert first.did == "3 uplinks to device 'sensor-1': HTTP 200 ×3"
    assert len(first.assertions) == 6 and exit_status(report) == 0
    records = emu.client.read_bucket("readings", items=10)
    assert {r["val"]["n"] for r in records} == {1, 2, 3, 4}
    assert all(
        isinstance(r["val"]["t"], int) and 18 <= r["val"]["t"] <= 25 for r in records[:3] if "t" in r["val"]
    )


def test_assertions_that_do_not_hold_say_expected_and_actual(emu: Emulator) -> None:
    report = run(
        emu,
        DEVICE_SETUP
        + """
[[step]]
name = "two readings"
uplink = { device = "sensor-1", data = { n = "{{i}}" }, repeat = 2 }
expect = [
  { response = 201 },
  { bucket = "readings", count = 3 },
  { bucket = "readings", fields = { "$.n" = 1 } },
  { property = "command", device = "sensor-1", value = { led = false } },
  { device = "sensor-1", connected = false },
  { bucket = "readings", count = { ge = 1 } },
]

[[step]]
name = "later steps still run"
expect = [{ bucket = "readings", count = 2, label = "two stored" }, { property = "nope", device = "sensor-1", value = 1 }]
""",
    )
    assert not report.ok and exit_status(report) == 7
    by = steps(report)
    failed = by["two readings"]
    assert failed.status == FAILED
    a = {x.label + "|" + x.expected: x for x in failed.assertions}
    lines = "\n".join(f"{x.status} {x.label}: {x.expected} / {x.actual}" for x in failed.assertions)
    assert [x.status for x in failed.assertions] == [FAILED] * 5 + [PASSED], lines
    assert "HTTP 200" in failed.assertions[0].actual and "status 201" in failed.assertions[0].expected
    assert failed.assertions[1].expected == "3 records" and failed.assertions[1].actual == "2 records"
    assert "$.n 1 (got 2)" in failed.assertions[2].actual  # the newest record by default
    assert 'value {"led": false} (got {"led": true, "level": 3})' in failed.assertions[3].actual
    assert (failed.assertions[4].expected, failed.assertions[4].actual) == ("disconnected", "connected")
    assert a  # labels are distinct enough to index
    later = by["later steps still run"]
    assert later.status == FAILED and later.assertions[0].status == PASSED
    assert later.assertions[0].label == "two stored"
    assert "not found" in later.assertions[1].actual
    text = "\n".join(report.text_lines())
    assert "FAIL two readings" in text and "expected: 3 records" in text and "actual:   2 records" in text


STRICT = """
vars = { deveui = "0018B20000000B20" }
[setup.sinks.app]
respond = [503, 503, 200]
[setup.connections.app]
configuration = { destinationURL = "sink:app", strictMode = true, headers = { X-Thing = "{DevEUI}", X-Key = "secret-1" } }

[[step]]
name = "uplink"
lorawan = { deveui = "{{deveui}}", fport = 2, payload_hex = "0102", fields = { DevEUI_uplink = { LrrRSSI = -80.5 } } }
within = "5s"
expect = [
  { response = 202, fields = { "$.FCntUp" = 0 } },
  { sink = "app", count = 1, method = "POST", path = "/", headers = { X-Thing = "{{deveui}}", X-Key = "secret-1" }, fields = { "$.DevEUI_uplink.FPort" = 2, "$.DevEUI_uplink.LrrRSSI" = -80.5 } },
  { deliveries = "pending", connection = "app", attempts = 1, reason = { contains = "503" } },
  { events = "uplink", count = { ge = 1 }, fields = { "$.DevEUI" = "{{deveui}}" } },
]
capture = { url = { sink = "app", path = "$.DevEUI_uplink.downlinkUrl" }, url2 = { connection = "app", path = "$.downlinkUrl" } }

[[step]]
name = "resent"
advance = 2
within = "5s"
expect = { sink = "app", count = 2 }

[[step]]
name = "delivered"
advance = "2s"
within = "5s"
expect = [
  { deliveries = "delivered", connection = "app", count = 1, attempts = 3, gaps = [2, 2], took = { approx = 4, within = 0.5 } },
  { deliveries = "any", kind = "uplink", count = 1 },
  { events = "delivery.delivered", count = 1 },
]
"""


def test_lorawan_uplinks_sinks_deliveries_and_events(emu: Emulator) -> None:
    report = run(emu, STRICT)
    assert report.ok, "\n".join(report.text_lines(verbose=True))
    by = steps(report)
    assert by["resent"].emulator_time is not None and by["resent"].emulator_time >= 2


def test_delivery_and_sink_assertions_that_do_not_hold(emu: Emulator) -> None:
    text = STRICT.replace("gaps = [2, 2],", "gaps = [5, 5],").replace(
        'headers = { X-Thing = "{{deveui}}", X-Key = "secret-1" }',
        'headers = { X-Thing = "0018B2000000FFFF" }',
    )
    text = text.replace(
        '{ events = "delivery.delivered", count = 1 }', '{ events = "delivery.delivered", count = 2 }'
    )
    text = text.replace('within = "5s"', 'within = "0.4s"')  # what fails is re-checked that long
    report = run(emu, text)
    by = steps(report)
    sink = by["uplink"].assertions[1]
    assert sink.status == FAILED
    assert sink.actual.startswith("1 request, 0 matching; the last one has header X-Thing")
    assert '(got "0018B20000000B20")' in sink.actual
    gaps, _any, events = by["delivered"].assertions
    assert gaps.status == FAILED and "gaps [5, 5] ±0.5s (got [2." in gaps.actual
    assert events.status == FAILED and events.actual == "1 event"


def test_downlinks_sent_and_rejected(emu: Emulator) -> None:
    dev = "0018B20000000001"
    report = run(
        emu,
        f"""
vars = {{ dev = "{dev}" }}
[setup.sinks.app]
downlink = {{ payload_hex = "0a", FPort = 2 }}
[setup.connections.app]
configuration = {{ destinationURL = "sink:app" }}

[[step]]
name = "queued"
lorawan = {{ deveui = "{{{{dev}}}}", fport = 1, payload_hex = "0{{{{i}}}}" }}
within = "5s"
expect = [{{ downlinks = "queued", count = 1 }}, {{ downlinks = "rejected", count = 0 }}]

[[step]]
name = "sent"
lorawan = {{ deveui = "{{{{dev}}}}", fport = 1, payload_hex = "0{{{{i}}}}" }}
within = "5s"
expect = {{ downlinks = "sent", deveui = "{{{{dev}}}}", count = 1, cause = "00" }}

[[step]]
name = "by connection, a used FCntDn"
downlink = {{ connection = "app", DevEUI = "{{{{dev}}}}", FPort = 3, payload_hex = "ff", FCntDn = 0, FlushDownlinkQueue = true }}
expect = [{{ response = 202 }}, {{ downlinks = "queued", count = 1 }}]

[[step]]
name = "rejected"
lorawan = {{ deveui = "{{{{dev}}}}", fport = 1, payload_hex = "0{{{{i}}}}" }}
within = "5s"
expect = [
  {{ downlinks = "rejected", count = 1, cause = {{ contains = "Expected=1" }} }},
  {{ downlinks = "any", deveui = "{{{{dev}}}}", count = {{ ge = 3 }} }},
]

[[step]]
name = "none expired"
expect = [{{ downlinks = "expired", count = 1 }}, {{ downlinks = "rejected", cause = "B0" }}]

[[step]]
name = "a bad downlink is refused"
downlink = {{ connection = "app", DevEUI = "{{{{dev}}}}", FPort = 300 }}
expect = {{ response = 400, fields = {{ "$.message" = {{ contains = "FPort" }} }} }}
""",
    )
    text = "\n".join(report.text_lines(verbose=True))
    by = steps(report)
    for name in ("queued", "sent", "by connection, a used FCntDn", "rejected", "a bad downlink is refused"):
        assert by[name].status == PASSED, text
    expired, cause = by["none expired"].assertions
    assert expired.status == FAILED and expired.expected == "1 downlink expired", text
    assert "1 rejected" in expired.actual and "1 sent" in expired.actual
    assert (
        cause.status == FAILED and 'causes: "Downlink counter value already used. Expected=1"' in cause.actual
    )


def test_wait_steps_hold_or_fail_with_what_was_seen(emu: Emulator) -> None:
    report = run(
        emu,
        DEVICE_SETUP
        + """
[setup.sinks.app]

[[step]]
name = "send"
uplink = { device = "sensor-1", data = { n = 1 } }

[[step]]
name = "wait for the bucket"
wait = { bucket = "readings", count = 1, timeout = "5s" }
expect = { response = 200, fields = { "$.records" = 1 } }

[[step]]
name = "wait for the device"
wait = { device = "sensor-1", connected = true }

[[step]]
name = "a sink that gets nothing"
wait = { sink = "app", count = 1, header = "X-A=1", timeout = "0.3s" }

[[step]]
name = "an event"
wait = { event = "device.connected", timeout = "2s" }

[[step]]
name = "events, as the assertion names them"
wait = { events = "callback", timeout = "2s" }
""",
    )
    by = steps(report)
    assert by["wait for the bucket"].status == PASSED
    assert by["wait for the bucket"].did == "waited for bucket 'readings' to hold 1 record: 1 record"
    assert by["wait for the device"].status == PASSED
    nothing = by["a sink that gets nothing"]
    assert nothing.status == FAILED and "timed out after 0.3s" in nothing.assertions[0].actual
    assert by["an event"].status == PASSED
    assert by["an event"].did.endswith(": 1 event 'device.connected'")
    assert by["events, as the assertion names them"].status == PASSED


def test_errors_setup_failures_fail_fast_and_filter(emu: Emulator) -> None:
    report = run(
        emu,
        """
[[step]]
name = "unknown capture"
advance = 1
capture = { t = "$.nothing" }

[[step]]
name = "unknown bucket"
expect = { bucket = "missing", count = 1 }

[[step]]
name = "last"
advance = 1
""",
    )
    by = steps(report)
    assert by["unknown capture"].status == ERROR
    assert by["unknown capture"].message == "capture t: nothing at $.nothing in the step's answer"
    assert by["unknown bucket"].status == FAILED and "not found" in by["unknown bucket"].assertions[0].actual
    assert by["last"].status == PASSED

    fast = run(
        emu,
        '[[step]]\nname = "a"\nexpect = { bucket = "missing" }\n[[step]]\nname = "b"\nadvance = 1\n',
        fail_fast=True,
    )
    assert [s.status for s in fast.steps] == [FAILED, SKIPPED]
    assert "--fail-fast" in fast.steps[1].message

    setup = run(
        emu,
        '[setup.connections.c]\nconfiguration = { destinationURL = "sink:nosuch" }\n[[step]]\nname = "a"\nadvance = 1\n',
    )
    assert [(s.name, s.status) for s in setup.steps] == [("setup", ERROR), ("a", SKIPPED)]
    assert "setup failed" in setup.steps[0].message and "nosuch" in setup.steps[0].message

    text = '[[step]]\nname = "one"\nadvance = 1\n[[step]]\nname = "two"\nadvance = 1\n[[step]]\nname = "three"\nadvance = 1\n'
    assert [s.name for s in run(emu, text, filter="two").steps] == ["one", "two"]
    assert [s.name for s in run(emu, text, filter="t*").steps] == ["one", "two", "three"]
    assert run(emu, text, filter="nothing-like-it").scenarios == []


class NoEmulatorRoutes(httpx.BaseTransport):
    """A server like a real tenant: the platform's routes, but no /_emulator (404)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/_emulator"):
            return httpx.Response(404, json={"error": {"message": "not found"}})
        return self.inner.handle_request(request)


def test_on_a_real_tenant_emulator_steps_are_skipped_with_the_reason(emu: Emulator) -> None:
    emu.client.create_device("d1", type="HTTP")
    api = ApiClient(
        httpx.Client(base_url=emu.url, transport=NoEmulatorRoutes()), user=emu.user, token=emu.token
    )
    report = run(
        api,
        """
[[step]]
name = "clock"
advance = 60

[[step]]
name = "uplink"
uplink = { device = "d1", data = { t = 1 } }
expect = [{ response = 200 }, { sink = "app" }, { device = "d1", connected = true }]

[[step]]
name = "journal"
expect = { events = "uplink" }
""",
    )
    assert not report.emulator and report.ok
    clock, uplink, journal = report.steps
    assert journal.status == SKIPPED and "needs the emulator" in journal.message
    assert clock.status == SKIPPED and "needs the emulator" in clock.message
    assert uplink.status == PASSED
    assert [a.status for a in uplink.assertions] == [PASSED, SKIPPED, PASSED]
    assert "skip clock" in "\n".join(report.text_lines())


def test_a_setup_token_that_existed_already_is_explained(emu: Emulator) -> None:
    text = (
        '[setup.devices.d]\ntokens = ["ci"]\n'
        '[[step]]\nname = "send"\nuplink = { device = "d", token = "{{tokens.d.ci}}" }\nexpect = { response = 200 }\n'
    )
    assert run(emu, text).ok
    again = run(emu, text)  # the same server, not reset: the token is there, its secret unknown
    (step,) = again.steps
    assert step.status == ERROR and "the setup did not create this token (it existed already" in step.message
