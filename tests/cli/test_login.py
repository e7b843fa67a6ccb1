"""``iotcli login`` against the in-process emulator, and the error boundary's exit code 1.

The ``cli`` fixture runs with ``IOTCLI_CONFIG_DIR=<tmp_path>/config`` (autouse ``isolated_env``),
so the config file the CLI writes is ``<tmp_path>/config/config.toml``.
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Any

import pytest

from iotcli.client.api import ApiClient
from tests.conftest import Cli
from tests.harness import InProcessEmulator


def config_file() -> Path:
    return Path(os.environ["IOTCLI_CONFIG_DIR"]) / "config.toml"


def profile(name: str) -> dict[str, Any]:
    data = tomllib.loads(config_file().read_text())
    prof: dict[str, Any] = data["profiles"][name]
    return prof


def works(emulator: InProcessEmulator, token: str) -> bool:
    r = emulator.anon("GET", "/_emulator/clock", headers={"Authorization": f"Bearer {token}"})
    return r.status_code == 200


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_config_dir_is_the_isolated_one(tmp_path: Path) -> None:
    assert config_file() == tmp_path / "config" / "config.toml"


def test_password_grant_stores_server_user_and_a_working_token(cli: Cli, emulator: InProcessEmulator) -> None:
    r = cli("--profile", "p", "login", "--password", emulator.token)
    assert r.exit_code == 0, r.stderr + r.stdout
    assert "Traceback" not in r.stderr
    prof = profile("p")
    assert prof["server"] == "http://testserver"
    assert prof["user"] == "local"
    token = prof["token"]
    # An issued access token, not the password stored back.
    assert isinstance(token, str) and token and token != emulator.token
    assert works(emulator, token)
    assert emulator.token not in config_file().read_text()
    assert stat.S_IMODE(config_file().stat().st_mode) == 0o600


def test_password_grant_json_output(cli: Cli, emulator: InProcessEmulator) -> None:
    r = cli("--json", "--profile", "p", "login", "--password", emulator.token)
    assert r.exit_code == 0, r.stderr + r.stdout
    data = r.json()["data"]
    assert data["profile"] == "p" and data["server"] == "http://testserver" and data["user"] == "local"
    assert isinstance(data["expires_in"], int) and data["expires_in"] > 0
    # The token itself is not printed.
    assert profile("p")["token"] not in r.stdout


def test_client_credentials_grant_stores_a_working_token(cli: Cli, emulator: InProcessEmulator) -> None:
    r = cli("--profile", "flow", "login", "--client-id", "local", "--client-secret", emulator.token)
    assert r.exit_code == 0, r.stderr + r.stdout
    prof = profile("flow")
    assert prof["server"] == "http://testserver"
    assert prof["user"] == "local"
    assert prof["client_id"] == "local"
    token = prof["token"]
    assert isinstance(token, str) and token and token != emulator.token
    assert works(emulator, token)
    # The IoT Flow surface takes it too.
    r2 = emulator.anon("GET", "/iot-flow/v1/connections", headers={"Authorization": f"Bearer {token}"})
    assert r2.status_code == 200, r2.text
    assert stat.S_IMODE(config_file().stat().st_mode) == 0o600


def test_login_keeps_other_profiles(cli: Cli, emulator: InProcessEmulator) -> None:
    assert cli("--profile", "a", "login", "--password", emulator.token).exit_code == 0
    first = profile("a")["token"]
    assert (
        cli("--profile", "b", "login", "--client-id", "local", "--client-secret", emulator.token).exit_code
        == 0
    )
    assert profile("a")["token"] == first
    assert works(emulator, first) and works(emulator, profile("b")["token"])


@pytest.mark.parametrize(
    "args",
    [
        ("login", "--password", "wrong-password"),
        ("login", "--username", "someone-else", "--password", "{token}"),
        ("login", "--client-id", "local", "--client-secret", "wrong-secret"),
        ("login", "--client-id", "someone-else", "--client-secret", "{token}"),
    ],
)
def test_bad_login_exits_4_and_writes_nothing(
    cli: Cli, emulator: InProcessEmulator, args: tuple[str, ...]
) -> None:
    r = cli("--profile", "p", *(a.format(token=emulator.token) for a in args))
    assert r.exit_code == 4, r.stderr + r.stdout
    lines = error_lines(r.stderr)
    assert len(lines) == 1 and "401" in lines[0]
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert not config_file().exists()


@pytest.mark.parametrize(
    "args",
    [("--client-id", "local"), ("--client-secret", "s3cret-value")],
)
def test_client_id_and_secret_go_together(
    cli: Cli, emulator: InProcessEmulator, args: tuple[str, ...]
) -> None:
    r = cli("--profile", "p", "login", *args)
    assert r.exit_code == 2, r.stderr + r.stdout
    lines = error_lines(r.stderr)
    assert len(lines) == 1 and "--client-id" in lines[0] and "--client-secret" in lines[0]
    assert "s3cret-value" not in r.stderr
    assert not config_file().exists()


# -- exit code 1: an unexpected exception -------------------------------------------------------


def boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("x")


def test_unexpected_exception_is_exit_1_with_one_error_line(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ApiClient, "list_devices", boom)
    r = cli("device", "list")
    assert r.exit_code == 1, r.stderr + r.stdout
    lines = error_lines(r.stderr)
    assert len(lines) == 1, r.stderr
    assert "unexpected" in lines[0] and "RuntimeError" in lines[0] and "x" in lines[0]
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout


def test_unexpected_exception_with_json_is_exit_1_and_json(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ApiClient, "list_devices", boom)
    r = cli("--json", "device", "list")
    assert r.exit_code == 1, r.stderr + r.stdout
    err = r.json()["error"]
    assert "unexpected RuntimeError" in err["message"]
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout


def test_password_login_keeps_the_refresh_token_and_renews_an_expired_access_token(
    cli: Cli, emulator: InProcessEmulator
) -> None:
    """Thinger access tokens last 7200 s: the CLI renews one with the refresh_token grant, keeping the new
    (rotated) refresh token, without asking for the password again."""
    r = cli("--profile", "p", "login", "--password", emulator.token)
    assert r.exit_code == 0, r.stderr + r.stdout
    first = profile("p")
    assert isinstance(first["refresh_token"], str) and first["refresh_token"] != first["token"]
    emulator.advance(7201)
    assert not works(emulator, first["token"])
    r = cli("--profile", "p", "device", "list", "--json", env={"IOTCLI_TOKEN": ""})
    assert r.exit_code == 0, r.stderr + r.stdout
    renewed = profile("p")
    assert renewed["token"] != first["token"] and works(emulator, renewed["token"])
    assert renewed["refresh_token"] != first["refresh_token"]
    # The first refresh token was used up (rotation).
    body = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    assert emulator.anon("POST", "/oauth/token", data=body).status_code == 401
