"""A connection's secrets: masked in answers, kept on a replace, sealed at rest, checked in constant time.

``downlinkAsKey``, ``tiak`` and ``proxy.password`` (``SECRET_PATHS``), and the values of secret-named
headers (``Authorization``, ``X-Api-Key``, ...), are shown as ``"*****"``; a PUT that sends the mask
back keeps the stored value.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import secrets
from typing import Any

from iotcli.emulator.errors import ApiProblem
from iotcli.models.headers import is_secret_header

MASK = "*****"
#: Configuration paths whose values are secrets: masked as ``"*****"`` in every answer.
SECRET_PATHS: list[tuple[str, ...]] = [("downlinkAsKey",), ("tiak",), ("proxy", "password")]


def mask_secret_headers(connection: dict[str, Any]) -> dict[str, Any]:
    """A connection answer with the values of secret-named headers (``Authorization``, ``X-Api-Key``, ...)
    as ``"*****"``: for reads (GET, list). The create and replace answers echo what their caller sent."""
    headers = (connection.get("configuration") or {}).get("headers")
    if isinstance(headers, dict):
        connection["configuration"]["headers"] = {
            name: MASK if value not in (None, "") and is_secret_header(name) else value
            for name, value in headers.items()
        }
    return connection


def mask(configuration: dict[str, Any]) -> dict[str, Any]:
    """A copy with every secret replaced by ``"*****"``."""
    out = copy.deepcopy(configuration)
    for path in SECRET_PATHS:
        node: Any = out
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and node.get(path[-1]) not in (None, ""):
            node[path[-1]] = MASK
    return out


def keep_secrets(new: dict[str, Any], stored: dict[str, Any] | None) -> dict[str, Any]:
    """Replace ``"*****"`` in ``new`` by the stored secret; a mask without a stored value is a 400."""
    out = copy.deepcopy(new)
    headers, stored_headers = out.get("headers"), (stored or {}).get("headers") or {}
    if isinstance(headers, dict):
        for name, value in headers.items():
            if value == MASK and is_secret_header(name):
                if not stored_headers.get(name):
                    raise ApiProblem(
                        400, f"header '{name}' is '{MASK}' but no value is stored to keep: send it"
                    )
                headers[name] = stored_headers[name]
    for path in SECRET_PATHS:
        node: Any = out
        old: Any = stored or {}
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
            old = old.get(key) if isinstance(old, dict) else None
        leaf = path[-1]
        if isinstance(node, dict) and node.get(leaf) == MASK:
            previous = old.get(leaf) if isinstance(old, dict) else None
            if not previous:
                name = "configuration." + ".".join(path)
                raise ApiProblem(400, f"field '{name}' is '{MASK}' but no value is stored to keep: send it")
            node[leaf] = previous
    return out


#: ``downlinkAsKey`` is kept itself, not as a hash: the LRC downlink tunnel checks
#: ``Token = sha256(query + AS_KEY)``, which needs the key [source: actility/thingpark-integrations
#: 1_tpNS-AS/AS_python_example/send_downlink_with_token.py]. In memory it is the key as given (masked
#: in every answer and journal); in the database it is sealed (``seal_as_key``) so that a copied or
#: dumped emulator.db does not show it [chosen]. An earlier emulator kept only ``HASHED`` + its SHA-256:
#: such a key still checks a body's ``AS_KEY``; the tunnel needs it set again.
HASHED = "sha256:"


def _sha256(value: str) -> str:
    return HASHED + hashlib.sha256(value.encode("utf-8")).hexdigest()


SEALED = "sealed:"
#: Obfuscation, not protection from someone who has this source: the point is that the key does not
#: appear in the database file (grep, dumps, bug reports).
_SEAL_KEY = hashlib.sha256(b"iotcli emulator: downlinkAsKey at rest").digest()


def _keystream(nonce: bytes, size: int) -> bytes:
    out = b""
    block = 0
    while len(out) < size:
        out += hmac.new(_SEAL_KEY, nonce + block.to_bytes(4, "big"), hashlib.sha256).digest()
        block += 1
    return out[:size]


def seal_as_key(configuration: dict[str, Any]) -> dict[str, Any]:
    """The configuration as written to the database: ``downlinkAsKey`` sealed."""
    key = configuration.get("downlinkAsKey")
    if not isinstance(key, str) or not key or key.startswith(SEALED) or is_hashed_as_key(key):
        return configuration
    nonce = secrets.token_bytes(12)
    data = key.encode("utf-8")
    sealed = bytes(a ^ b for a, b in zip(data, _keystream(nonce, len(data)), strict=True))
    return {**configuration, "downlinkAsKey": SEALED + nonce.hex() + sealed.hex()}


def open_as_key(configuration: dict[str, Any]) -> dict[str, Any]:
    """The configuration as read from the database: ``downlinkAsKey`` as given again."""
    key = configuration.get("downlinkAsKey")
    if not isinstance(key, str) or not key.startswith(SEALED):
        return configuration
    try:
        raw = bytes.fromhex(key[len(SEALED) :])
        nonce, sealed = raw[:12], raw[12:]
        clear = bytes(a ^ b for a, b in zip(sealed, _keystream(nonce, len(sealed)), strict=True)).decode()
    except ValueError:
        return configuration
    return {**configuration, "downlinkAsKey": clear}


def as_key_of(stored: Any) -> str | None:
    """The stored ``downlinkAsKey`` itself, or None (none set, or only the hash an earlier version kept)."""
    if not isinstance(stored, str) or not stored or is_hashed_as_key(stored):
        return None
    return stored


def is_hashed_as_key(stored: str) -> bool:
    return stored.startswith(HASHED) and len(stored) == len(HASHED) + 64


def as_key_matches(stored: str, given: str) -> bool:
    """Constant-time check of a downlink's AS_KEY against the stored ``downlinkAsKey``."""
    if is_hashed_as_key(stored):
        return hmac.compare_digest(_sha256(given), stored)  # the hash an earlier version kept
    return hmac.compare_digest(given.encode(), stored.encode())
