"""What the resource commands share (``bucket``, ``endpoint``, ``property``, ``device``, ``fleet``):
the small parsers (ids, JSON values, timestamps, retention periods), the options several commands
declare (``--yes``, ``--min-ts``/``--max-ts``), and how a result or a change is shown.

Each command group has its own module (``iotcli.cli.bucket``, ``.endpoint``, ``.property``,
``.device``, ``.device_token``, ``.device_callback``); this one registers none.
"""

import json
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from iotcli.cli.output import ms_to_iso
from iotcli.cli.state import CliState
from iotcli.errors import UsageError
from iotcli.models.ids import ID_PATTERN, ID_RULE

MAX_ITEMS = 1000

DeviceIdArg = Annotated[
    str, typer.Argument(help="Device id (1-32 letters, digits, '_' or '-').", show_default=False)
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
MinTsOpt = Annotated[
    str | None, typer.Option("--min-ts", help="Oldest record: epoch ms or ISO 8601 (UTC if no zone).")
]
MaxTsOpt = Annotated[
    str | None, typer.Option("--max-ts", help="Newest record: epoch ms or ISO 8601 (UTC if no zone).")
]


def check_id(value: str, what: str) -> str:
    """Ids of the Thinger-style surface: 1-32 letters, digits, '_' or '-' [source]."""
    if not ID_PATTERN.fullmatch(value):
        raise UsageError(f"{what} id '{value[:64]}' is not valid: use {ID_RULE}")
    return value


def parse_json(text: str, what: str) -> Any:
    """Strict JSON from the command line; a UsageError naming the option when it does not parse."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{what} is not valid JSON: {exc.msg} at column {exc.colno}",
            hint="""quote it for the shell, e.g. --data '{"temperature": 21.5}'""",
        ) from None


def parse_json_object(text: str, what: str) -> dict[str, Any]:
    value = parse_json(text, what)
    if not isinstance(value, dict):
        raise UsageError(f"{what} must be a JSON object ({{...}}), not {type(value).__name__}")
    return value


def parse_loose_value(text: str) -> Any:
    """A property value: JSON when it parses (21.5, true, {"a":1}), else the text as a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_ts(text: str, what: str) -> int:
    """Epoch milliseconds, or an ISO 8601 date/time (UTC when it names no zone)."""
    raw = text.strip()
    if re.fullmatch(r"-?\d+", raw):
        return int(raw)
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{what} '{text}' is neither epoch milliseconds nor an ISO 8601 time",
            hint="examples: 1767225600000, 2026-01-01, 2026-01-01T12:00:00Z",
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def format_ms(value: Any) -> Any:
    """Epoch ms -> ``2026-01-01T12:00:00.000Z`` for people; anything else unchanged."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return value
    return ms_to_iso(value) or value


def humanize(obj: dict[str, Any], ts_keys: Iterable[str]) -> dict[str, Any]:
    """A copy with the named (possibly ``a.b`` nested) epoch-ms fields made readable."""
    out = json.loads(json.dumps(obj, default=str))
    for key in ts_keys:
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and leaf in node:
            node[leaf] = format_ms(node[leaf])
    return out  # type: ignore[no-any-return]


def show(state: CliState, obj: Any, ts_keys: Sequence[str] = ()) -> None:
    """A single object: as is with --json, readable times for people."""
    if state.out.json_mode or not isinstance(obj, dict):
        state.out.data(obj)
    else:
        state.out.data(humanize(obj, ts_keys))


def show_rows(
    state: CliState,
    rows: list[dict[str, Any]],
    columns: Sequence[tuple[str, str]],
    ts_keys: Sequence[str] = (),
    *,
    empty: str | None = None,
) -> None:
    """A list: as is with --json; for people a table with readable times, or ``empty`` when there is none."""
    if state.out.json_mode:
        state.out.data(rows)
    else:
        state.out.data([humanize(r, ts_keys) for r in rows], columns=columns, empty=empty)


def confirm(state: CliState, question: str, yes: bool, *, what: str = "it") -> None:
    """Ask on a terminal unless --yes; without a terminal and without --yes, refuse (prompt.py)."""
    from iotcli.cli.prompt import confirm_delete

    confirm_delete(state.out, question, yes, what=what)


def done(state: CliState, message: str, data: Any) -> None:
    """A change went through: a line for people on stderr, ``{"data": ...}`` for scripts."""
    state.out.success(message)
    if state.out.json_mode:
        state.out.json({"data": data})


RETENTION_UNITS = {
    "h": "hours",
    "hour": "hours",
    "hours": "hours",
    "d": "days",
    "day": "days",
    "days": "days",
    "w": "weeks",
    "week": "weeks",
    "weeks": "weeks",
    "mo": "months",
    "month": "months",
    "months": "months",
    "y": "years",
    "year": "years",
    "years": "years",
}


def parse_retention(text: str) -> dict[str, Any]:
    """'30d', '30 days', '6mo', '1y' -> {"period", "unit"}; '0' keeps records forever."""
    m = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", text)
    if m and m.group(1) == "0" and not m.group(2):
        return {"period": 0, "unit": "days"}
    if not m or m.group(2).lower() not in RETENTION_UNITS:
        raise UsageError(
            f"--retention '{text}' is not a period",
            hint="examples: 24h, 30d, 2w, 6mo, 1y, 0 (keep forever)",
        )
    return {"period": int(m.group(1)), "unit": RETENTION_UNITS[m.group(2).lower()]}
