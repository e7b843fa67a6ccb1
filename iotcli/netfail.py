"""What to tell a user whose request got no answer: DNS, TLS, refused, or other (no httpx, no typer).

Used by the API client (httpx errors) and by send-uplink (http.client errors), so that both say the
same: "Start a local one with `iotcli emulate`" only where a local emulator could be the answer.
"""

from __future__ import annotations

from urllib.parse import urlsplit

EMULATOR_HINT = "is the server running? Start a local one with `iotcli emulate`"
REMOTE_HINT = "is the server up and the URL right? check --server / the profile (`iotcli config show`)"

_DNS_SIGNS = (
    "name or service not known",
    "nodename nor servname",
    "temporary failure in name resolution",
    "getaddrinfo failed",
    "no address associated",
    "errno -2]",
    "errno -3]",
    "errno -5]",
    "errno 8]",
    "errno 11001]",
)
_TLS_SIGNS = ("ssl", "certificate", "tls", "handshake")


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def classify(url: str, text: str) -> tuple[str, str]:
    """(what happened, hint) for a failure text (an exception's message) reaching ``url``."""
    low = text.lower()
    host = urlsplit(url).hostname or url
    if any(sign in low for sign in _DNS_SIGNS):
        return (
            f"the host name '{host}' does not resolve (DNS)",
            "check the host name in the URL, and your network or VPN",
        )
    if any(sign in low for sign in _TLS_SIGNS):
        if "wrong version number" in low or "record layer" in low:
            hint = "the server does not speak TLS there: try http:// instead of https://"
        elif "certificate" in low:
            hint = (
                "the server's certificate is not trusted here; for a private CA pass --ca-file FILE "
                "(or IOTCLI_CA_FILE, the profile's ca_file, or SSL_CERT_FILE)"
            )
        else:
            hint = "check the URL's scheme and port, and the server's TLS setup"
        return f"TLS failed ({text})", hint
    if "refused" in low or "errno 111" in low:
        what = "connection refused"
    else:
        what = f"connection failed ({text})" if text else "connection failed"
    return what, EMULATOR_HINT if is_loopback_url(url) else REMOTE_HINT
