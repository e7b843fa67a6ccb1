"""Client methods for the emulator's own routes under /_emulator."""

from __future__ import annotations

from typing import Any

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
