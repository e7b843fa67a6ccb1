"""The JUnit XML report has the shape CI systems read.

The checks are written from the two schemas CI tools validate against: Jenkins' ``junit-10.xsd``
(jenkinsci/xunit-plugin, src/main/resources/org/jenkinsci/plugins/xunit/types/model/xsd/junit-10.xsd) and
the Apache Ant schema ``JUnit.xsd`` (windyroad/JUnit-Schema), whose rules are the stricter where they differ:
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from iotcli.check import parse_scenario
from iotcli.check.runner import run_scenarios
from iotcli.testing import Emulator

INT = re.compile(r"^\d+$")
DECIMAL = re.compile(r"^\d+(\.\d+)?$")  # xs:decimal, no unit (Ant: time in seconds)
ISO8601 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")  # Ant's ISO8601_DATETIME_PATTERN: no zone
#: element -> (required attributes with their pattern, allowed child elements in their order)
SCHEMA: dict[str, tuple[dict[str, re.Pattern[str] | None], list[str]]] = {
    "testsuites": (
        {"tests": INT, "failures": INT, "errors": INT, "time": DECIMAL},
        ["testsuite"],
    ),
    "testsuite": (
        {
            "name": None, "tests": INT, "failures": INT, "errors": INT, "skipped": INT, "time": DECIMAL,
            "timestamp": ISO8601, "hostname": None, "id": INT, "package": None,
        },
        ["properties", "testcase", "system-out", "system-err"],
    ),
    "properties": ({}, ["property"]),
    "property": ({"name": None, "value": None}, []),
    "testcase": ({"name": None, "classname": None, "time": DECIMAL}, ["skipped", "error", "failure"]),
    "failure": ({"message": None, "type": None}, []),
    "error": ({"message": None, "type": None}, []),
    "skipped": ({}, []),
    "system-out": ({}, []),
    "system-err": ({}, []),
}  # fmt: skip
#: Every attribute either schema declares (XSD allows no others); ``skipped`` on testsuites is in the later
#: junit-10 revisions that Jenkins, GitLab and GitHub reporters read.
DECLARED = {
    "testsuites": {"name", "time", "tests", "failures", "disabled", "errors", "skipped"},
    "testsuite": {
        "name", "tests", "failures", "errors", "time", "disabled", "skipped", "timestamp", "hostname", "id", "package",
    },
    "testcase": {"name", "assertions", "time", "classname", "status", "class", "file", "line"},
    "failure": {"message", "type"},
    "error": {"message", "type"},
    "skipped": {"message"},
    "property": {"name", "value"},
}  # fmt: skip
REQUIRED_CHILDREN = {"testsuite": ["properties", "system-out", "system-err"]}  # Ant: minOccurs 1


def validate(element: ET.Element) -> None:
    attrs, children = SCHEMA[element.tag]
    for name, pattern in attrs.items():
        assert name in element.attrib, f"<{element.tag}> lacks @{name}"
        value = element.attrib[name]
        assert value.strip(), f"<{element.tag}> @{name} is empty"
        assert pattern is None or pattern.match(value), (
            f"<{element.tag} {name}={value!r}> is not {pattern.pattern}"
        )
    extra = set(element.attrib) - DECLARED.get(element.tag, set())
    assert not extra, f"<{element.tag}> has attributes no schema declares: {extra}"
    tags = [child.tag for child in element]
    for tag in tags:
        assert tag in children, f"<{tag}> is not allowed in <{element.tag}>"
    order = [children.index(t) for t in tags]
    assert order == sorted(order), f"<{element.tag}> children out of the schema's order: {tags}"
    for tag in REQUIRED_CHILDREN.get(element.tag, []):
        assert tags.count(tag) == 1, f"<{element.tag}> needs exactly one <{tag}>"
    if element.tag == "testcase":
        assert len(tags) <= 1, "a testcase has at most one of skipped, error, failure"
    for child in element:
        validate(child)


def test_junit_report_fits_the_schema_and_counts_each_step(emu: Emulator) -> None:
    good = parse_scenario(
        'name = "Good"\n[[step]]\nname = "tick"\nadvance = 1\nexpect = { response = 200 }\n', "a.toml"
    )
    bad = parse_scenario(
        'name = "Bad <&> \\"quoted\\""\n'
        '[[step]]\nname = "count"\nexpect = { bucket = "missing", count = 2 }\n'
        '[[step]]\nname = "broken"\nadvance = 1\ncapture = { t = "$.nothing" }\n'
        '[[step]]\nname = "ok"\nadvance = 1\n',
        "b.toml",
    )
    report = run_scenarios(emu.client, [good, bad])
    xml = report.to_junit()
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(xml)
    assert root.tag == "testsuites"
    validate(root)
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == (
        "4",
        "1",
        "1",
        "0",
    )
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["Good", 'Bad <&> "quoted"']
    assert [s.get("id") for s in suites] == ["0", "1"]
    assert [(s.get("tests"), s.get("failures"), s.get("errors")) for s in suites] == [
        ("1", "0", "0"),
        ("3", "1", "1"),
    ]
    cases = suites[1].findall("testcase")
    assert [c.get("name") for c in cases] == ["count", "broken", "ok"]
    assert {c.get("classname") for c in cases} == {'Bad <&> "quoted"'}
    failure = cases[0].find("failure")
    assert failure is not None and failure.get("message", "").startswith("bucket 'missing': expected")
    assert "got not found" in (failure.text or "")
    error = cases[1].find("error")
    assert error is not None and "capture t: nothing at $.nothing" in error.get("message", "")
    assert list(cases[2]) == []  # passed: no child
    out = suites[1].find("system-out")
    assert out is not None and "FAIL count" in (out.text or "")
    assert sum(float(c.get("time", "0")) for c in cases) <= float(suites[1].get("time", "0")) + 0.01


def test_skipped_steps_are_skipped_testcases(emu: Emulator) -> None:
    scenario = parse_scenario(
        '[[step]]\nname = "a"\nexpect = { bucket = "nope" }\n[[step]]\nname = "b"\nadvance = 1\n', "c.toml"
    )
    root = ET.fromstring(run_scenarios(emu.client, [scenario], fail_fast=True).to_junit())
    validate(root)
    assert root.get("skipped") == "1"
    skipped = root.find("testsuite/testcase[@name='b']/skipped")
    assert skipped is not None and "--fail-fast" in skipped.get("message", "")
