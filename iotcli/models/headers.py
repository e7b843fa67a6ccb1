"""Which HTTP header names carry a secret: their values never reach the journal, the inspector, the
recorded sink requests, the connection documents or an exported environment file in clear.
"""

from __future__ import annotations

import functools

#: Header names whose values are secret.
SECRET_HEADERS = {"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "x-auth-token"}
#: ... and any header whose name says it carries one (X-Token, X-Signature, X-Client-Secret, ...).
SECRET_NAME_PARTS = ("auth", "token", "secret", "key", "password", "passwd", "signature", "cookie", "session")


@functools.lru_cache(maxsize=4096)
def is_secret_header(name: str) -> bool:
    """Whether the header ``name`` (any case) carries a secret."""
    lower = name.lower()
    return lower in SECRET_HEADERS or any(part in lower for part in SECRET_NAME_PARTS)
