"""Reading a scenario file and checking it whole against the format of ``iotcli.check.schema``, before
anything runs: each error names the file, the step and the key."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from iotcli.check.matchers import MatcherError, check_matcher, json_path
from iotcli.check.schema import (
    ACTIONS,
    ASYNC_WITHIN,
    BOOL,
    COUNT,
    DURATION,
    EMULATOR_ONLY_EXPECTS,
    EXPECT_COMMON,
    EXPECTS,
    HINT,
    INT,
    MATCHER,
    MATCHERS,
    NUM,
    NUMBERS,
    PATH,
    PLACEHOLDER,
    POSINT,
    RECORD,
    SENDING_NAMES,
    SETUP_SECTIONS,
    STATUSES,
    STEP_KEYS,
    STR,
    TABLE,
    TOP_KEYS,
    WAIT_COMMON,
    WAITS,
    Scenario,
    ScenarioError,
    Setup,
    Step,
)


class _Where:
    def __init__(self, path: str, step: Step | None = None, prefix: str = "") -> None:
        self.path, self.step, self.prefix = path, step, prefix

    def error(self, key: str, problem: str) -> ScenarioError:
        where = self.path
        if self.step is not None:
            where += f": step {self.step.index} '{self.step.name}'"
        full = f"{self.prefix}{key}" if key else self.prefix.rstrip(".")
        return ScenarioError(f"{where}: {full}: {problem}" if full else f"{where}: {problem}", hint=HINT)

    def at(self, prefix: str) -> _Where:
        return _Where(self.path, self.step, self.prefix + prefix)


def load_scenario(path: str | Path, environ: Mapping[str, str] | None = None) -> Scenario:
    """Read and check a scenario file (and the environment files its setup names)."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read {name}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{name} is not UTF-8 text") from None
    return parse_scenario(text, name, base_dir=Path(path).parent, environ=environ)


def parse_scenario(
    text: str,
    name: str = "<scenario>",
    *,
    base_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Scenario:
    where = _Where(name)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{name}: not valid TOML: {exc}", hint=HINT) from None
    for key in raw:
        if key not in TOP_KEYS:
            raise where.error(key, f"unknown key (known: {', '.join(sorted(TOP_KEYS))})")
    scenario = Scenario(path=name, name=Path(name).stem)
    if "name" in raw:
        scenario.name = _want(where, "name", raw["name"], STR)
    scenario.description = _want(where, "description", raw.get("description", ""), STR)
    scenario.vars = _want(where, "vars", raw.get("vars", {}), TABLE)
    if "setup" in raw:
        scenario.setup = _setup(
            where.at("setup."), _want(where, "setup", raw["setup"], TABLE), base_dir, environ
        )
    steps = raw.get("step")
    if not isinstance(steps, list) or not steps or not all(isinstance(s, dict) for s in steps):
        raise where.error("step", "needs at least one [[step]] table")
    seen: set[str] = set()
    known = set(scenario.vars) | _setup_tokens(scenario.setup)
    for i, spec in enumerate(steps, 1):
        step = _step(name, i, spec)
        if step.name in seen:
            raise _Where(name, step).error("name", "another step has this name (names must be unique)")
        seen.add(step.name)
        _check_placeholders(_Where(name, step), spec, known)
        known |= set(step.capture)
        scenario.steps.append(step)
    return scenario


def _setup_tokens(setup: Setup | None) -> set[str]:
    names: set[str] = set()
    for env in setup.envs if setup is not None else []:
        for device, spec in env.names("devices").items():
            names |= {f"tokens.{device}.{t}" for t in spec.get("tokens", []) if isinstance(t, str)}
    return names


def _check_placeholders(where: _Where, value: Any, known: set[str], key: str = "") -> None:
    """Every ``{{name}}`` is known before the step runs (a typo is an error now, not mid-run)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k not in ("name", "description", "capture"):
                _check_placeholders(where, v, known, f"{key}.{k}" if key else str(k))
    elif isinstance(value, list):
        for n, v in enumerate(value, 1):
            _check_placeholders(where, v, known, f"{key}[{n}]")
    elif isinstance(value, str):
        for match in PLACEHOLDER.finditer(value):
            ref = match.group(1)
            if ref not in SENDING_NAMES and ref not in known:
                shown = ", ".join(sorted(known)) or "none"
                raise where.error(
                    key,
                    f"{{{{{ref}}}}} is not a var, a setup token or an earlier step's capture (known: {shown})",
                )


def _setup(
    where: _Where, raw: dict[str, Any], base_dir: Path | None, environ: Mapping[str, str] | None
) -> Setup:
    from iotcli.provision import EnvFileError, load_env, parse_env

    envs: list[Any] = []
    files = raw.get("apply", [])
    if isinstance(files, str):
        files = [files]
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise where.error("apply", "must be a file name or an array of file names")
    for key in raw:
        if key != "apply" and key not in SETUP_SECTIONS:
            raise where.error(key, f"unknown key (known: apply, {', '.join(SETUP_SECTIONS)})")
    for file in files:
        target = Path(file) if base_dir is None or Path(file).is_absolute() else base_dir / file
        try:
            envs.append(load_env(target, environ))
        except EnvFileError as exc:
            raise ScenarioError(f"{where.path}: setup.apply: {exc.message}", hint=exc.hint) from None
    inline = {k: v for k, v in raw.items() if k in SETUP_SECTIONS}
    if inline:
        import tomli_w

        label = f"{where.path} [setup]"
        try:
            envs.append(parse_env(tomli_w.dumps(inline), label, environ))
        except EnvFileError as exc:
            # "<file> [setup]:LINE: devices.d.type: ..." names a line of the re-written TOML: drop it.
            detail = re.sub(rf"^{re.escape(label)}(:\d+)?: ", "", exc.message)
            raise ScenarioError(f"{where.path}: setup.{detail}", hint=exc.hint) from None
    return Setup(envs)


def _step(path: str, index: int, raw: dict[str, Any]) -> Step:
    label = raw.get("name")
    step = Step(index=index, name=label if isinstance(label, str) and label.strip() else f"step {index}")
    where = _Where(path, step)
    if not isinstance(label, str) or not label.strip():
        raise where.error("name", "every step needs a name (a string)")
    for key in raw:
        if key not in STEP_KEYS:
            raise where.error(key, f"unknown key (known: {', '.join(sorted(STEP_KEYS))})")
    actions = [k for k in ACTIONS if k in raw]
    if len(actions) > 1:
        raise where.error(actions[1], f"a step does one thing: {' and '.join(actions)} are in the same step")
    step.description = _want(where, "description", raw.get("description", ""), STR)
    if actions:
        step.action = actions[0]
        step.spec = _action(where.at(step.action + "."), step.action, raw[step.action])
    if "within" in raw:
        step.within = _duration(where, "within", raw["within"], allow_zero=True)
    expect = raw.get("expect", [])
    if isinstance(expect, dict):
        expect = [expect]
    if not isinstance(expect, list) or not all(isinstance(e, dict) for e in expect):
        raise where.error("expect", "must be an array of tables ({ bucket = ..., count = ... })")
    for n, entry in enumerate(expect, 1):
        step.expect.append(_expect(where.at(f"expect[{n}]."), entry))
    if step.action is None and any(kind == "response" for kind, _ in step.expect):
        n = next(i for i, (kind, _) in enumerate(step.expect, 1) if kind == "response")
        raise where.error(
            f"expect[{n}].response", "checks the answer of this step's action, and the step has none"
        )
    if "within" not in raw and any(kind in EMULATOR_ONLY_EXPECTS for kind, _ in step.expect):
        step.within = ASYNC_WITHIN  # the emulator delivers after it answered: give it a moment
    capture = _want(where, "capture", raw.get("capture", {}), TABLE)
    for cname, source in capture.items():
        _capture(where.at(f"capture.{cname}"), source)
    step.capture = capture
    if step.action is None and not step.expect:
        raise where.error(
            "", f"does nothing and checks nothing (add an action: {', '.join(ACTIONS)}; or expect)"
        )
    return step


def _action(where: _Where, kind: str, value: Any) -> Any:
    if kind == "advance":
        return _duration(where, "", value)
    if not isinstance(value, dict):
        raise where.error("", "must be a table ({ key = value, ... })")
    if kind == "wait":
        subjects = [k for k in WAITS if k in value]
        if len(subjects) != 1:
            raise where.error("", f"names one thing to wait for: one of {', '.join(WAITS)}")
        subject = subjects[0]
        allowed = {subject: (STR, True), **WAITS[subject], **WAIT_COMMON}
        if subject == "device":
            allowed[subject] = (STR, True)
        _keys(where, value, allowed)
        if subject in STATUSES and value[subject] not in STATUSES[subject][1:]:
            raise where.error(subject, f"must be one of {', '.join(STATUSES[subject][1:])}")
        if value.get("clock", "wall") not in ("wall", "emulator"):
            raise where.error("clock", "must be 'wall' or 'emulator'")
        for key, sep in (("header", None), ("field", "=")):
            if key in value and (not value[key].partition("=")[0].strip() or (sep and sep not in value[key])):
                raise where.error(key, "must be NAME=VALUE" if sep else "must be NAME or NAME=VALUE")
        return {**value, "timeout": _duration(where, "timeout", value.get("timeout", 10))}
    _keys(where, value, ACTIONS[kind])
    if kind == "lorawan" and "payload_hex" not in value and "payload" not in value:
        raise where.error("", "needs payload_hex (hex digits) or payload (a decoded payload table)")
    if kind == "downlink" and ("url" in value) == ("connection" in value):
        raise where.error("", "names where it goes: connection = NAME or url = DOWNLINK_URL (one of them)")
    return value


def _expect(where: _Where, entry: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    subject = next((k for k in EXPECTS if k in entry and not (k == "device" and "property" in entry)), None)
    if subject is None:
        raise where.error("", f"names what is checked: one of {', '.join(EXPECTS)}")
    kind = subject
    allowed = {**EXPECTS[kind], **EXPECT_COMMON}
    allowed[subject] = {
        "response": (MATCHER, True),
        "deliveries": (STR, True),
        "downlinks": (STR, True),
    }.get(subject, (STR, True))
    _keys(where, entry, allowed)
    if kind in STATUSES and entry[kind] not in STATUSES[kind]:
        raise where.error(kind, f"must be one of {', '.join(STATUSES[kind])}")
    if kind == "property" and "device" not in entry:
        raise where.error("device", "required")
    return kind, entry


def _capture(where: _Where, source: Any) -> None:
    if isinstance(source, str):
        _want(where, "", source, PATH)
        return
    if not isinstance(source, dict):
        raise where.error("", "must be a JsonPath on the step's answer, or { sink = NAME, path = ... }")
    if "sink" in source:
        _keys(where.at("."), source, {"sink": (STR, True), "path": (PATH, True), "request": (RECORD, False)})
    elif "connection" in source:
        _keys(where.at("."), source, {"connection": (STR, True), "path": (PATH, True)})
    else:
        raise where.error("", "a table names its source: sink = NAME or connection = NAME (with path)")


def _keys(where: _Where, value: dict[str, Any], allowed: dict[str, tuple[str, bool]]) -> None:
    for key, item in value.items():
        if key not in allowed:
            raise where.error(key, f"unknown key (known: {', '.join(allowed)})")
        _want(where, key, item, allowed[key][0])
    for key, (_kind, required) in allowed.items():
        if required and key not in value:
            raise where.error(key, "required")


def _duration(where: _Where, key: str, value: Any, *, allow_zero: bool = False) -> float:
    from iotcli.sinkspec import ScriptError, parse_seconds

    if isinstance(value, bool):
        raise where.error(key, "must be seconds (a number, or a string like '10s', '2m')")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = parse_seconds(value, key or "duration")
        except ScriptError as exc:
            raise where.error(key, str(exc).split(": ", 1)[-1]) from None
    else:
        raise where.error(key, "must be seconds (a number, or a string like '10s', '2m')")
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise where.error(key, "must be more than 0 seconds")
    return seconds


def _want(where: _Where, key: str, value: Any, kind: str) -> Any:
    ok = True
    if kind == STR:
        ok = isinstance(value, str)
    elif kind in (INT, POSINT):
        ok = isinstance(value, int) and not isinstance(value, bool) and (kind == INT or value >= 1)
    elif kind == NUM:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif kind == BOOL:
        ok = isinstance(value, bool)
    elif kind == TABLE:
        ok = isinstance(value, dict)
    elif kind == DURATION:
        _duration(where, key, value)
    elif kind == MATCHER:
        _matcher(where, key, value)
    elif kind == COUNT:
        if isinstance(value, int) and not isinstance(value, bool):
            ok = value >= 0
        else:
            ok = isinstance(value, dict)
            if ok:
                _matcher(where, key, value)
    elif kind == MATCHERS:
        ok = isinstance(value, dict)
        if ok:
            for sub, m in value.items():
                if key in ("fields",):
                    _want(where, f"{key}.{sub}", sub, PATH)
                _matcher(where, f"{key}.{sub}", m)
    elif kind == PATH:
        ok = isinstance(value, str)
        if ok:
            try:
                json_path(value)
            except MatcherError as exc:
                raise where.error(key, str(exc)) from None
    elif kind == RECORD:
        ok = value in ("first", "last") or (isinstance(value, int) and not isinstance(value, bool))
    elif kind == NUMBERS:
        ok = isinstance(value, list) and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value
        )
    if not ok:
        raise where.error(key, f"must be {_KIND_TEXT.get(kind, kind)}, not {_type_name(value)}")
    return value


def _matcher(where: _Where, key: str, value: Any) -> None:
    try:
        check_matcher(value)
    except MatcherError as exc:
        raise where.error(key, str(exc)) from None


_KIND_TEXT = {
    STR: "a string",
    INT: "an integer",
    POSINT: "an integer of 1 or more",
    NUM: "a number",
    BOOL: "true or false",
    TABLE: "a table",
    COUNT: "a count (an integer, or a table like { ge = 1 })",
    MATCHERS: "a table of NAME = expected value",
    PATH: "a JsonPath string",
    RECORD: "'first', 'last' or an index",
    NUMBERS: "an array of numbers",
}


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__
