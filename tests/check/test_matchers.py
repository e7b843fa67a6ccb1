"""Matchers (literal or operator tables) and JsonPath."""

from __future__ import annotations

from typing import Any

import pytest

from iotcli.check.matchers import MISSING, describe, json_path, matches


@pytest.mark.parametrize(
    ("actual", "expected", "ok"),
    [
        (1, 1.0, True),
        (True, 1, False),
        (1, True, False),
        ("1", 1, False),
        ({"a": [1, 2]}, {"a": [1, 2.0]}, True),
        ({"a": 1, "b": 2}, {"a": 1}, False),
        (5, {"ge": 5, "lt": 6}, True),
        (6, {"ge": 5, "lt": 6}, False),
        ("x", {"gt": 1}, False),
        (2.3, {"approx": 2, "within": 0.5}, True),
        (2.6, {"approx": 2}, False),
        ("abc", {"contains": "b"}, True),
        ([1, 2], {"contains": 2}, True),
        ("0018B2", {"matches": "^0018"}, True),
        ("a", {"in": ["a", "b"]}, True),
        ("c", {"in": ["a", "b"]}, False),
        (MISSING, {"exists": False}, True),
        (None, {"exists": True}, True),
        (MISSING, 1, False),
        (MISSING, {"ne": 1}, False),
        (3, {"ne": 1}, True),
    ],
)
def test_matches(actual: Any, expected: Any, ok: bool) -> None:
    assert matches(actual, expected) is ok


def test_describe_and_paths() -> None:
    assert describe({"ge": 1, "le": 3}) == "at least 1 and at most 3"
    assert describe("POST") == '"POST"'
    doc = {"DevEUI_uplink": {"FPort": 2, "items": [{"n": "x"}]}}
    assert json_path("$.DevEUI_uplink.FPort").find(doc) == 2
    assert json_path("DevEUI_uplink.items[0].n").find(doc) == "x"
    assert json_path("$.nothing").find(doc) is MISSING
