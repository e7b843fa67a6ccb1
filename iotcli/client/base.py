"""The HTTP core of the API client: one injected ``httpx.Client``, one place that maps failures to iotcli errors.

No typer, no rich: the client is a library; the CLI decides how errors look.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from iotcli.errors import ApiError, NetworkError, RequestTimeout
from iotcli.netfail import EMULATOR_HINT, REMOTE_HINT, classify

__all__ = ["EMULATOR_HINT", "BaseClient", "error_from_response", "network_error"]


def error_from_response(response: httpx.Response) -> ApiError:
    """Build an ApiError from a non-2xx answer, reading either error-body shape of the contract.

    Thinger-style: ``{"error": {"message": "..."}}``; IoT Flow-style: ``{"code": "...", "message": "..."}``.
    Anything else (HTML from a proxy, plain text) is summarised rather than dumped.
    """
    status = response.status_code
    body: Any = None
    message = ""
    api_code: str | None = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            message = err["message"]
            api_code = err.get("code") if isinstance(err.get("code"), str) else None
        elif isinstance(err, str):
            message = err
        elif isinstance(body.get("message"), str):
            message = body["message"]
            api_code = body.get("code") if isinstance(body.get("code"), str) else None
    if not message:
        ctype = response.headers.get("content-type", "")
        text = response.text.strip() if body is None else ""
        if "html" in ctype or text.lower().startswith(("<!doctype", "<html")):
            message = f"the server answered {status} with an HTML page, not the API's JSON"
        elif text:
            first = text.splitlines()[0]
            message = first[:200]
        else:
            message = response.reason_phrase or "no error message"
    hint = None
    if status == 401:
        hint = "check the token: `iotcli login`, --token or IOTCLI_TOKEN"
    elif status == 403:
        hint = "the token is valid but not allowed here (other user, device token, or disabled device)"
    elif status == 404:
        hint = "check the id; list what exists with the matching `list` command"
    elif status in (400, 409) and "already exists" in message:
        hint = _update_hint(response.request.url.path)
    return ApiError(
        status,
        f"{response.request.method} {response.request.url.path}: {status} {message}",
        hint=hint,
        body=body,
        api_code=api_code,
    )


class BaseClient:
    """Sends requests for one user of one server and turns every failure into an iotcli error.

    ``token_refresher`` is called once when a request answers 401 and a refresher is set (IoT Flow
    client-credentials tokens expire); its new token is used for the retry and kept.
    """

    def __init__(
        self,
        http: httpx.Client,
        *,
        user: str,
        token: str | None = None,
        token_refresher: Callable[[], str] | None = None,
    ) -> None:
        self.http = http
        self.user = user
        self.token = token
        self.token_refresher = token_refresher

    @property
    def base_url(self) -> str:
        return str(self.http.base_url).rstrip("/")

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if extra:
            headers.update(extra)
        return headers

    def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        content: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
    ) -> httpx.Response:
        """Send one request; raise ApiError for non-2xx, NetworkError/RequestTimeout for transport failures."""
        params = {k: v for k, v in (params or {}).items() if v is not None}
        for attempt in range(2):
            hdrs = self._headers(headers) if auth else dict(headers or {})
            try:
                response = self.http.request(
                    method, path, json=json, params=params, data=data, content=content, headers=hdrs
                )
            except httpx.TimeoutException:
                raise RequestTimeout(
                    f"{method} {self.base_url}{path}: no answer in time",
                    hint="the server is slow or stuck; raise the timeout with `iotcli config set timeout 30`",
                ) from None
            except httpx.TransportError as exc:
                raise network_error(self.base_url, exc) from None
            if response.status_code == 401 and auth and attempt == 0 and self.token_refresher is not None:
                self.token = self.token_refresher()
                continue
            if response.status_code >= 400:
                raise error_from_response(response)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send and return the decoded JSON body (None for an empty body)."""
        response = self.send(method, path, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ApiError(
                response.status_code,
                f"{method} {path}: the server answered {response.status_code} but not with JSON",
                hint="is --server pointing at an iotcli-compatible API?",
            ) from None


#: Words in a path -> the command group that manages what lives there, and whether it has `update`.
_GROUPS = {"devices": ("device", True), "connections": ("connection", True), "buckets": ("bucket", False)}
_GROUPS["endpoints"] = ("endpoint", False)


def _update_hint(path: str) -> str:
    parts = [p for p in path.split("/") if p]
    for kind, (group, has_update) in _GROUPS.items():
        if kind in parts:
            if has_update:
                return f"it is there already: change it with `iotcli {group} update ID ...`"
            return f"it is there already: see it with `iotcli {group} show ID`, or `iotcli {group} delete ID` first"
    return "it is there already: change it with the matching `update` command"


def network_error(base_url: str, exc: httpx.TransportError) -> NetworkError:
    """The one line (and hint) for a request that got no answer: DNS, TLS, refused, other."""
    text = str(exc) or type(exc).__name__
    what, hint = classify(base_url, text)
    if hint in (REMOTE_HINT, EMULATOR_HINT):
        what = describe_transport_error(exc)
    if "does not resolve" in what:
        hint = "check the host in --server / the profile (`iotcli config show`), and your network or VPN"
    return NetworkError(f"cannot reach {base_url}: {what}", hint=hint)


def describe_transport_error(exc: httpx.TransportError) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        if "refused" in text.lower() or "errno 111" in text.lower():
            return "connection refused"
        return f"connection failed ({text})"
    return text
