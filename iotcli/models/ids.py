"""The id rule of the Thinger-style surface: devices, buckets, endpoints, properties, users, sinks.

Path ids follow ``^[a-zA-Z0-9_-]{1,32}$`` (thinger-io OpenAPI, the ``pattern`` of path parameters).
"""

from __future__ import annotations

import re

ID_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,32}$")
#: The rule in words, for error messages.
ID_RULE = "1-32 letters, digits, '_' or '-'"


def is_id(value: str) -> bool:
    """Whether ``value`` is a valid id."""
    return ID_PATTERN.fullmatch(value) is not None
