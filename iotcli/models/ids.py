"""The id rule of the Thinger-style surface: devices, buckets, endpoints, properties, users, sinks.

Path ids follow ``^[a-zA-Z0-9_-]{1,32}$`` (thinger-io OpenAPI, the ``pattern`` of path parameters).
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

#: The rule in words, for error messages.
ID_RULE = "1-32 letters, digits, '_' or '-'"

if TYPE_CHECKING:
    #: The rule as a compiled pattern (compiled on first use: see ``__getattr__``).
    ID_PATTERN: re.Pattern[str]


@functools.cache
def _id_pattern() -> re.Pattern[str]:
    return re.compile(r"^[a-zA-Z0-9_-]{1,32}$")


def __getattr__(name: str) -> object:
    # ``ID_PATTERN`` is compiled when first used, not at import: a CLI command that checks no id skips it.
    if name == "ID_PATTERN":
        return _id_pattern()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def is_id(value: str) -> bool:
    """Whether ``value`` is a valid id."""
    return _id_pattern().fullmatch(value) is not None
