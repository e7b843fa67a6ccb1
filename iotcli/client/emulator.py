"""Client methods for the emulator's own routes under /_emulator."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from iotcli.client.base import BaseClient


class EmulatorMethods(BaseClient):
    def health(self) -> dict[str, Any]:
        return self.call("GET", "/_emulator/health", auth=False)  # type: ignore[no-any-return]

    def reset(self) -> dict[str, Any]:
        return self.call("POST", "/_emulator/reset")  # type: ignore[no-any-return]

    def clock(self) -> dict[str, Any]:
        return self.call("GET", "/_emulator/clock")  # type: ignore[no-any-return]

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        return self.call("POST", "/_emulator/clock/advance", json={"seconds": seconds})  # type: ignore[no-any-return]

    def password_login(self, username: str, password: str) -> dict[str, Any]:
        """Thinger-style password grant at /oauth/token."""
        return self.call(  # type: ignore[no-any-return]
            "POST",
            "/oauth/token",
            data={"grant_type": "password", "username": username, "password": password},
            auth=False,
        )

    def client_credentials_login(self, client_id: str, client_secret: str) -> dict[str, Any]:
        """IoT Flow-style client-credentials grant at /iot-flow/v1/oauth/token."""
        return self.call(  # type: ignore[no-any-return]
            "POST",
            "/iot-flow/v1/oauth/token",
            data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret},
            auth=False,
        )

    # -- sinks ----------------------------------------------------------------------------------
    def create_sink(self, name: str, script: dict[str, Any] | None = None) -> dict[str, Any]:
        """Create a sink; ``script`` holds respond/default/delay/body/headers/downlink."""
        return self.call("POST", "/_emulator/sinks", json={"name": name, **(script or {})})  # type: ignore[no-any-return]

    def put_sink(self, name: str, script: dict[str, Any] | None = None) -> dict[str, Any]:
        """Create a sink or replace its script (its status sequence starts again)."""
        return self.call("PUT", f"/_emulator/sinks/{_seg(name)}", json=script or {})  # type: ignore[no-any-return]

    def list_sinks(self) -> list[dict[str, Any]]:
        return self.call("GET", "/_emulator/sinks") or []  # type: ignore[no-any-return]

    def get_sink(self, name: str) -> dict[str, Any]:
        return self.call("GET", f"/_emulator/sinks/{_seg(name)}")  # type: ignore[no-any-return]

    def delete_sink(self, name: str) -> Any:
        return self.call("DELETE", f"/_emulator/sinks/{_seg(name)}")

    def sink_requests(
        self, name: str, *, after: int | None = None, limit: int | None = None, secrets: bool = False
    ) -> list[dict[str, Any]]:
        """Recorded requests of a sink, oldest first (``after``: only those with a larger id)."""
        params = {"after": after, "limit": limit, "secrets": "1" if secrets else None}
        return self.call("GET", f"/_emulator/sinks/{_seg(name)}/requests", params=params) or []  # type: ignore[no-any-return]

    def clear_sink(self, name: str) -> dict[str, Any]:
        return self.call("DELETE", f"/_emulator/sinks/{_seg(name)}/requests")  # type: ignore[no-any-return]

    def resolve_sink_url(self, value: str) -> str:
        """``sink:NAME`` (or ``sink:NAME/sub/path``) -> that sink's URL on this server (a 404 ApiError when there is none); anything
        else is returned as is."""
        if not value.startswith(SINK_PREFIX):
            return value
        name, sep, rest = value[len(SINK_PREFIX) :].partition("/")
        return str(self.get_sink(name)["url"]) + (f"/{rest}" if sep else "")


#: ``--destination sink:NAME`` / ``--url sink:NAME``: the URL of the emulator's sink NAME.
SINK_PREFIX = "sink:"


def _seg(value: str) -> str:
    return quote(str(value), safe="")
