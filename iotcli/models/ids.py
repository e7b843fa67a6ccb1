"""The id rule of the Thinger-style surface: devices, buckets, endpoints, properties, users, sinks.

Path ids follow ``^[a-zA-Z0-9_-]{1,32}$`` (thinger-io OpenAPI, the ``pattern`` of path parameters).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from iotcli.models.patterns import lazy_patterns

#: The rule in words, for error messages.
ID_RULE = "1-32 letters, digits, '_' or '-'"

if TYPE_CHECKING:
    import re

    #: The rule as a compiled pattern (compiled on first use: a CLI command that checks no id skips it).
    ID_PATTERN: re.Pattern[str]

_pattern, __getattr__ = lazy_patterns(__name__, {"ID_PATTERN": r"^[a-zA-Z0-9_-]{1,32}$"})


def is_id(value: str) -> bool:
    """Whether ``value`` is a valid id."""
    return _pattern("ID_PATTERN").fullmatch(value) is not None
