"""What to send: a RequestPlan (method, URL, headers, body template) and the targets that build one.

Targets (CONTRACT sections 2-4):
- an HTTP device's callback: ``POST <server>/v3/users/<user>/devices/<device>/callback/data`` with a bearer token;
- any URL;
- a LoRaWAN uplink through the emulator's ingress: ``POST <server>/_emulator/lorawan/uplinks``;
- a LoRaWAN uplink straight to an application server, in the IoT Flow format (see ``iotflow.py``).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode, urlsplit

from iotcli import __version__
from iotcli.errors import UsageError
from iotcli.models import lorawan
from iotcli.models.devices import callback_url
from iotcli.models.ids import ID_RULE, is_id
from iotcli.models.lorawan import ingress_body as ingress_body  # the body of a lorawan target
from iotcli.models.render import Prepared
from iotcli.sending.template import RawJson, RenderContext, Template, dumps, has_placeholder, sample

USER_AGENT = f"iotcli/{__version__}"


class RequestPlan:
    """A request to send once or N times; the body may hold placeholders rendered per uplink.

    (A plain class, as every class a single send creates: see ``iotcli.sending``.)
    """

    def __init__(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]] | None = None,
        body: Template | None = None,
        target: str = "url",  # device | url | lorawan | iotflow
        fcnt_start: int = 0,
    ) -> None:
        self.method = method
        self.url = url
        self.headers: list[tuple[str, str]] = [] if headers is None else headers
        self.body = body
        self.target = target
        self.fcnt_start = fcnt_start

    def __repr__(self) -> str:
        return f"RequestPlan({self.method} {self.url}, target={self.target})"

    def render(self, i: int = 1) -> Prepared:
        body = None
        if self.body is not None:
            if self.body.is_static:
                body = self.body.text.encode("utf-8")
            else:
                body = self.body.render(RenderContext(i=i, fcnt=self.fcnt_start + i - 1)).encode("utf-8")
        return Prepared(self.method, self.url, list(self.headers), body)

    @property
    def varies(self) -> bool:
        return self.body is not None and not self.body.is_static


def set_header(headers: list[tuple[str, str]], name: str, value: str, *, replace: bool = True) -> None:
    """Set a header (case-insensitive); with replace=False keep an existing one."""
    for idx, (k, _v) in enumerate(headers):
        if k.lower() == name.lower():
            if replace:
                headers[idx] = (name, value)
            return
    headers.append((name, value))


def parse_header(text: str) -> tuple[str, str]:
    """``-H 'K: V'`` (or ``K:V``) -> (K, V)."""
    name, sep, value = text.partition(":")
    name = name.strip()
    if not sep or not name or " " in name:
        raise UsageError(f"header '{text}' is not 'Name: value'", hint="example: -H 'X-Site: A'")
    return name, value.strip()


def with_query(url: str, query: list[tuple[str, str]]) -> str:
    if not query:
        return url
    return url + ("&" if urlsplit(url).query else "?") + urlencode(query)


def check_url(url: str, option: str = "--url") -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"{option} '{url}' must be an http:// or https:// URL")
    return url


def check_id(value: str, what: str) -> str:
    if not is_id(value):
        raise UsageError(f"{what} '{value}' must be {ID_RULE}")
    return value


def device_url(server: str, user: str, device: str) -> str:
    """The callback URL of an HTTP device (Thinger-style)."""
    check_id(device, "device id")
    return callback_url(server, user, device)


def json_body(value: Any) -> Template:
    """A JSON value (may contain RawJson fragments with placeholders) as a compact body template."""
    return Template(dumps(value))


def text_body(text: str, *, source: str, must_be_json: bool) -> Template:
    """A body given as text (--data, --file, stdin); --data must be JSON (placeholders allowed)."""
    if must_be_json:
        try:
            json.loads(sample(text) if has_placeholder(text) else text)
        except ValueError as exc:
            raise UsageError(
                f"{source} is not valid JSON ({exc})",
                hint="quote it for the shell: --data '{\"temp\": 21.5}'; send other text with --file",
            ) from None
    return Template(text)


def base_headers(token: str | None, *, body: bool) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = [("User-Agent", USER_AGENT), ("Accept", "application/json, */*;q=0.5")]
    if body:
        headers.append(("Content-Type", "application/json"))
    if token:
        headers.append(("Authorization", f"Bearer {token}"))
    return headers


# --- LoRaWAN -------------------------------------------------------------------------------------


def normalize_deveui(value: str) -> str:
    deveui = lorawan.normalize_deveui(value)
    if deveui is None:
        raise UsageError(f"--deveui '{value}' must be 16 hex digits (dashes allowed)")
    return deveui


def check_fport(value: int) -> int:
    if not lorawan.is_fport(value):
        raise UsageError(f"--fport {value} must be {lorawan.FPORT_MIN}..{lorawan.FPORT_MAX}")
    return value


def check_payload_hex(value: str) -> str:
    if not lorawan.is_payload_hex(value):
        raise UsageError(f"--payload-hex '{value}' must be hex digits, two per byte")
    return value.lower()


def decoded_payload(text: str) -> Any:
    """--payload JSON (placeholders allowed) -> a value for the uplink's ``payload``."""
    if has_placeholder(text):
        try:
            json.loads(sample(text))
        except ValueError as exc:
            raise UsageError(f"--payload is not valid JSON ({exc})") from None
        return RawJson(text.strip())
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(
            f"--payload is not valid JSON ({exc})", hint="example: --payload '{\"t\": 21.5}'"
        ) from None
