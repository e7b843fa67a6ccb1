"""What a run found: per scenario, per step, per assertion; as text, a JSON document, or JUnit XML.

JUnit XML fits both schemas CI systems read: Jenkins' ``junit-10.xsd`` and the stricter Apache Ant one
(windyroad ``JUnit.xsd``: every testsuite with id, package, timestamp, hostname, properties, system-out
and system-err; failure and error with message and type)::

    <testsuites name="iotcli check" tests= failures= errors= skipped= time=>
      <testsuite name=SCENARIO tests= failures= errors= skipped= time= timestamp= hostname= id= package=>
        <properties><property name="file" value=.../></properties>
        <testcase name=STEP classname=SCENARIO time=>
          <failure message=FIRST-FAILURE type="AssertionError">each failed assertion: expected, got</failure>
          | <error message= type=>...</error> | <skipped message=REASON/>
        </testcase>
        <system-out>what each step did and saw</system-out><system-err/>
      </testsuite>
    </testsuites>
"""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

PASSED, FAILED, ERROR, SKIPPED = "passed", "failed", "error", "skipped"
MARK = {PASSED: "ok  ", FAILED: "FAIL", ERROR: "ERR ", SKIPPED: "skip"}


@dataclass
class AssertionResult:
    label: str
    status: str  # passed, failed, skipped
    expected: str = ""
    actual: str = ""
    reason: str = ""  # why skipped

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "status": self.status}
        if self.status == FAILED:
            out |= {"expected": self.expected, "actual": self.actual}
        elif self.status == PASSED and self.actual:
            out["actual"] = self.actual
        if self.reason:
            out["reason"] = self.reason
        return out

    def line(self) -> str:
        if self.status == FAILED:
            return f"{self.label}: expected {self.expected}, got {self.actual}"
        if self.status == SKIPPED:
            return f"{self.label}: skipped ({self.reason})"
        return f"{self.label}: {self.expected}" if self.expected else self.label


@dataclass
class StepResult:
    name: str
    status: str = PASSED
    time: float = 0.0  # wall seconds
    emulator_time: float | None = None  # emulator seconds the step took (with --emulator / an emulator)
    did: str = ""  # what the action did, one line
    message: str = ""  # error or skip reason
    assertions: list[AssertionResult] = field(default_factory=list)

    @property
    def failures(self) -> list[AssertionResult]:
        return [a for a in self.assertions if a.status == FAILED]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "status": self.status,
            "time": round(self.time, 4),
            "did": self.did,
            "assertions": [a.to_dict() for a in self.assertions],
        }
        if self.emulator_time is not None:
            out["emulator_time"] = round(self.emulator_time, 3)
        if self.message:
            out["message"] = self.message
        return out

    def failure_message(self) -> str:
        if self.status == FAILED and self.failures:
            return self.failures[0].line()
        return self.message


@dataclass
class ScenarioResult:
    file: str
    name: str
    steps: list[StepResult] = field(default_factory=list)
    time: float = 0.0
    started: datetime = field(default_factory=lambda: datetime.now(UTC))

    def count(self, status: str) -> int:
        return sum(1 for s in self.steps if s.status == status)

    @property
    def ok(self) -> bool:
        return not (self.count(FAILED) or self.count(ERROR))

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "name": self.name,
            "ok": self.ok,
            "time": round(self.time, 4),
            "counts": {s: self.count(s) for s in (PASSED, FAILED, ERROR, SKIPPED)},
            "steps": [s.to_dict() for s in self.steps],
        }


@dataclass
class RunReport:
    scenarios: list[ScenarioResult] = field(default_factory=list)
    time: float = 0.0
    target: str = ""  # the server's URL
    emulator: bool = True

    @property
    def steps(self) -> list[StepResult]:
        return [s for sc in self.scenarios for s in sc.steps]

    def count(self, status: str) -> int:
        return sum(sc.count(status) for sc in self.scenarios)

    @property
    def ok(self) -> bool:
        return all(sc.ok for sc in self.scenarios)

    def summary(self) -> str:
        n = len(self.steps)
        parts = [f"{self.count(PASSED)} passed"]
        parts += [f"{self.count(s)} {s}" for s in (FAILED, ERROR, SKIPPED) if self.count(s)]
        files = len(self.scenarios)
        return (
            f"{n} step{'s' * (n != 1)} in {files} scenario{'s' * (files != 1)}: "
            f"{', '.join(parts)} ({self.time:.2f}s)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "target": self.target,
            "emulator": self.emulator,
            "time": round(self.time, 4),
            "counts": {s: self.count(s) for s in (PASSED, FAILED, ERROR, SKIPPED)},
            "scenarios": [sc.to_dict() for sc in self.scenarios],
        }

    # -- text -----------------------------------------------------------------------------------
    def text_lines(self, *, verbose: bool = False) -> list[str]:
        lines: list[str] = []
        for sc in self.scenarios:
            lines.append(f"{sc.name} ({sc.file})")
            for step in sc.steps:
                lines += step_lines(step, verbose=verbose)
            lines.append("")
        lines.append(("passed: " if self.ok else "FAILED: ") + self.summary())
        return lines

    # -- JUnit ----------------------------------------------------------------------------------
    def to_junit(self) -> str:
        root = ET.Element("testsuites", _counts(self.steps, self.time) | {"name": "iotcli check"})
        host = socket.gethostname() or "localhost"
        for i, sc in enumerate(self.scenarios):
            suite = ET.SubElement(
                root,
                "testsuite",
                {"name": sc.name, **_counts(sc.steps, sc.time)}
                | {
                    "timestamp": sc.started.strftime("%Y-%m-%dT%H:%M:%S"),
                    "hostname": host,
                    "id": str(i),
                    "package": "iotcli.check",
                },
            )
            props = ET.SubElement(suite, "properties")
            ET.SubElement(props, "property", {"name": "file", "value": sc.file})
            ET.SubElement(props, "property", {"name": "target", "value": self.target})
            for step in sc.steps:
                case = ET.SubElement(
                    suite, "testcase", {"name": step.name, "classname": sc.name, "time": _secs(step.time)}
                )
                if step.status == FAILED:
                    failure = ET.SubElement(
                        case, "failure", {"message": step.failure_message(), "type": "AssertionError"}
                    )
                    failure.text = "\n".join(a.line() for a in step.failures)
                elif step.status == ERROR:
                    error = ET.SubElement(case, "error", {"message": step.message, "type": "StepError"})
                    error.text = step.message
                elif step.status == SKIPPED:
                    ET.SubElement(case, "skipped", {"message": step.message})
            # What each step did and saw: in the suite's output (the Ant schema has none per testcase).
            out = ET.SubElement(suite, "system-out")
            out.text = "\n".join(line for step in sc.steps for line in step_lines(step, verbose=True))
            ET.SubElement(suite, "system-err")
        ET.indent(root)
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def step_lines(step: StepResult, *, verbose: bool = False) -> list[str]:
    timing = f"{step.time:.2f}s"
    if step.emulator_time is not None and step.emulator_time >= 0.5:
        timing += f", emulator +{step.emulator_time:.1f}s"
    head = f"  {MARK[step.status]} {step.name} ({timing})"
    lines = [head]
    if step.did:
        lines.append(f"       {step.did}")
    if step.message and step.status in (ERROR, SKIPPED):
        lines.append(f"       {step.message}")
    for a in step.assertions:
        if a.status == FAILED:
            lines.append(f"       ✗ {a.label}")
            lines.append(f"           expected: {a.expected}")
            lines.append(f"           actual:   {a.actual}")
        elif a.status == SKIPPED:
            lines.append(f"       - {a.label}: skipped ({a.reason})")
        else:
            lines.append(f"       ✓ {a.line()}" + (f"  (saw: {a.actual})" if verbose and a.actual else ""))
    return lines


def _secs(value: float) -> str:
    return f"{max(value, 0.0):.3f}"


def _counts(steps: list[StepResult], time: float) -> dict[str, str]:
    def n(status: str) -> str:
        return str(sum(1 for s in steps if s.status == status))

    return {
        "tests": str(len(steps)),
        "failures": n(FAILED),
        "errors": n(ERROR),
        "skipped": n(SKIPPED),
        "time": _secs(time),
    }
