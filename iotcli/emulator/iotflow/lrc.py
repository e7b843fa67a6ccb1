"""The LRC-compliance query and its SHA-256 Token.

``Token = sha256_hex(CustomerID + DevEUI(upper) + FPort + FCntUp + payload_hex(lower) + <query> + tiak(lower))``
where ``<query>`` is ``LrnDevEui=..&LrnFPort=..&LrnInfos=..&AS_ID=..&Time=..`` with the values as they are
(not URL-encoded) [source]. The query sent on the wire is URL-encoded, with ``Token`` last.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote

LRC_KEYS = ("LrnDevEui", "LrnFPort", "LrnInfos", "AS_ID", "Time")


def lrc_query(params: dict[str, str]) -> str:
    """The query string the Token is computed over (values not encoded)."""
    return "&".join(f"{key}={params[key]}" for key in LRC_KEYS)


def lrc_token(
    *,
    customer_id: str,
    deveui: str,
    fport: int | str,
    fcnt_up: int | str,
    payload_hex: str,
    query: str,
    tiak: str,
) -> str:
    material = f"{customer_id}{deveui.upper()}{fport}{fcnt_up}{payload_hex.lower()}{query}{tiak.lower()}"
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def lrc_params(uplink: dict[str, Any], *, as_id: str, tiak: str) -> dict[str, str]:
    """The six query parameters for one uplink, Token included."""
    deveui = str(uplink.get("DevEUI", "")).upper()
    fport = uplink.get("FPort", "")
    customer = str(uplink.get("CustomerID", ""))
    params = {
        "LrnDevEui": deveui,
        "LrnFPort": str(fport),
        "LrnInfos": str(
            uplink.get("_LrnInfos") or f"TWA_{customer}.{uplink.get('Lrcid', '0')}.AS-1-{deveui[-6:]}"
        ),
        "AS_ID": as_id,
        "Time": str(uplink.get("Time", "")),
    }
    params["Token"] = lrc_token(
        customer_id=customer,
        deveui=deveui,
        fport=fport,
        fcnt_up=uplink.get("FCntUp", ""),
        payload_hex=str(uplink.get("payload_hex", "")),
        query=lrc_query(params),
        tiak=tiak,
    )
    return params


def encode_query(params: dict[str, str]) -> str:
    """URL-encode (``+`` in Time becomes ``%2B``) keeping the order."""
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='-_.:~')}" for k, v in params.items())
