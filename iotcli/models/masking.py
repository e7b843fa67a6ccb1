"""Secrets out of what is shown, journaled or logged: ``user:password@`` and secret query parameters of
URLs, and the values of secret headers.

One rule for every display: the emulator's journal, log lines and inspector, and the CLI's
``--dry-run``, ``-v`` and ``--json`` records. A query parameter's name is compared after
percent-decoding (``?authoriz%61tion=`` is ``authorization``, as every parser reads it),
case-insensitively; header names follow ``iotcli.models.headers.is_secret_header``.
"""

from __future__ import annotations

import functools
import re
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from iotcli.models.headers import is_secret_header

MASK = "*****"

#: Query parameter names that carry a secret ...
SECRET_PARAMS = {
    "authorization",
    "auth",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "api_key",
    "apikey",
    "api-key",
    "key",
    "secret",
    "client_secret",
    "password",
    "passwd",
    "pwd",
    "signature",
    "sig",
    "session",
    "sessionid",
    "as_key",
}
#: ... and any name with one of these in it (x_api_key, auth_token, ...).
SECRET_PARTS = ("token", "secret", "password", "passwd", "api_key", "apikey", "signature", "session", "auth")


@functools.cache
def _pair() -> re.Pattern[str]:
    """A ``name=value`` pair of a query (compiled on first use: most URLs shown have no query)."""
    return re.compile(r"([^&=;]*)=([^&;]*)")


def is_secret_param(raw_name: str) -> bool:
    name = unquote_plus(raw_name).strip().lower()
    return name in SECRET_PARAMS or any(part in name for part in SECRET_PARTS)


def mask_query(query: str) -> str:
    """``a=1&api_key=xyz`` -> ``a=1&api_key=*****`` (names as sent, values of secret names masked)."""
    if "=" not in query:
        return query

    def one(m: re.Match[str]) -> str:
        return f"{m.group(1)}={MASK}" if is_secret_param(m.group(1)) and m.group(2) else m.group(0)

    return _pair().sub(one, query)


def mask_url(url: str) -> str:
    """The URL with a password in its userinfo and the values of secret query parameters masked."""
    if "?" not in url and "@" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return mask_query(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{host}" if colon else f"{userinfo}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, mask_query(parts.query), parts.fragment))


def mask_path(path_and_query: str) -> str:
    """A request target (``/path?query``) as logged by an access log, secret query values masked."""
    path, sep, query = path_and_query.partition("?")
    return f"{path}{sep}{mask_query(query)}" if sep else path_and_query


def mask_header_value(name: str, value: str) -> str:
    """The value of a secret header masked, its scheme kept (``Bearer *****``); others as they are."""
    if not is_secret_header(name):
        return value
    scheme, sep, _secret = value.partition(" ")
    return f"{scheme} {MASK}" if sep else MASK
