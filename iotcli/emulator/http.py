"""Request helpers shared by the route modules: JSON bodies, path ids, query parameters, answers."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from iotcli.emulator import jsonpolicy
from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.jsonwords import json_type
from iotcli.models.ids import ID_PATTERN, ID_RULE

#: The latest epoch-milliseconds time the emulator accepts (9999-12-31T23:59:59.999Z): later times
#: cannot be reached by any clock, and the store's 64-bit integers could not hold them all.
MAX_EPOCH_MS = 253_402_300_799_999


def check_id(value: str, what: str) -> str:
    """Path ids follow ``^[a-zA-Z0-9_-]{1,32}$`` [source]; anything else is a 400 naming the id."""
    if not ID_PATTERN.fullmatch(value):
        raise ApiProblem(400, f"invalid {what} id '{value[:64]}': use {ID_RULE}")
    return value


def path_id(request: Request, name: str) -> str:
    return check_id(str(request.path_params[name]), name)


#: Integers beyond SQLite's 64-bit INTEGER cannot be stored or compared there.
INT64_MAX = 2**63 - 1


def parse_json_bytes(raw: bytes) -> Any:
    """Decode a JSON body under the edge policy (``jsonpolicy``) or raise a 400 that says what is wrong."""
    if not raw.strip():
        raise ApiProblem(400, "request body is empty: expected JSON")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiProblem(400, f"request body is not valid UTF-8 (byte {exc.start})") from None
    try:
        return jsonpolicy.decode(text)
    except jsonpolicy.JsonRejected as exc:
        if exc.syntax:
            if exc.message == "nested too deeply":
                raise ApiProblem(400, "request body is nested too deeply") from None
            raise ApiProblem(400, f"request body is not valid JSON: {exc.message}") from None
        raise ApiProblem(400, exc.message) from None


async def read_json(request: Request) -> Any:
    return parse_json_bytes(await request.body())


async def read_json_object(request: Request) -> dict[str, Any]:
    data = await read_json(request)
    if not isinstance(data, dict):
        raise ApiProblem(400, f"request body must be a JSON object, not {json_type(data)}")
    return data


#: A query integer as JSON writes one: ASCII digits, an optional minus sign.
_INTEGER = re.compile(r"-?[0-9]+")


def query_int(
    request: Request,
    name: str,
    default: int | None = None,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        if not _INTEGER.fullmatch(raw):  # int() also takes " 5\n", "+5", "5_0" and other scripts' digits
            raise ValueError(raw)
        value = int(raw)
    except ValueError:
        raise ApiProblem(400, f"query parameter '{name}' must be an integer, got '{raw[:32]}'") from None
    if not -INT64_MAX <= value <= INT64_MAX:
        raise ApiProblem(400, f"query parameter '{name}' is out of range")
    if minimum is not None and value < minimum:
        raise ApiProblem(400, f"query parameter '{name}' must be >= {minimum}")
    if maximum is not None and value > maximum:
        raise ApiProblem(400, f"query parameter '{name}' must be <= {maximum}")
    return value


def ok(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(data, status_code=status, headers=headers)
