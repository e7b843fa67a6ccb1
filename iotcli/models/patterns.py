"""Named regular expressions compiled on first use, not at import (issue 17: each costs 0.1-0.2 ms of a
command's start-up, and most commands use none of them).

A module keeps its public names (``ID_PATTERN``, ...) readable as attributes through its ``__getattr__``::

    _pattern, __getattr__ = lazy_patterns(__name__, {"ID_PATTERN": r"^[a-z]+$"})
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable


def lazy_patterns(
    module: str, sources: dict[str, str]
) -> tuple[Callable[[str], re.Pattern[str]], Callable[[str], object]]:
    """``(pattern, module_getattr)``: ``pattern(name)`` compiles ``sources[name]`` once; ``module_getattr``
    is the module's ``__getattr__``, answering those names and raising AttributeError for others."""

    @functools.cache
    def pattern(name: str) -> re.Pattern[str]:
        return re.compile(sources[name])

    def module_getattr(name: str) -> object:
        if name in sources:
            return pattern(name)
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return pattern, module_getattr
