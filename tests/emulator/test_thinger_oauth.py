"""/oauth/token as the real server does it: password and refresh_token grants, the refresh token rotates,
expires_in 7200, scope null, form and JSON bodies; bad input is a clear 4xx and issues nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.emulator.thinger_helpers import U
from tests.harness import TEST_TOKEN, InProcessEmulator

LOGIN = {"grant_type": "password", "username": "local", "password": TEST_TOKEN}


def token_count(emu: InProcessEmulator) -> int:
    return int(emu.run(emu.emu.store.read(lambda c: c.execute("SELECT COUNT(*) FROM tokens").fetchone()[0])))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("as_json", [False, True], ids=["form", "json"])
def test_password_grant_answers_like_the_real_server(emulator: InProcessEmulator, as_json: bool) -> None:
    kwargs: dict[str, Any] = {"json": LOGIN} if as_json else {"data": LOGIN}
    r = emulator.anon("POST", "/oauth/token", **kwargs)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert set(answer) == {"access_token", "expires_in", "refresh_token", "scope", "token_type"}
    assert answer["expires_in"] == 7200 and answer["scope"] is None and answer["token_type"] == "bearer"
    assert emulator.anon("GET", f"{U}/devices", headers=bearer(answer["access_token"])).status_code == 200
    # The refresh token is not an access token.
    assert emulator.anon("GET", f"{U}/devices", headers=bearer(answer["refresh_token"])).status_code == 401


@pytest.mark.parametrize("as_json", [False, True], ids=["form", "json"])
def test_refresh_grant_rotates_the_refresh_token(emulator: InProcessEmulator, as_json: bool) -> None:
    first = emulator.anon("POST", "/oauth/token", data=LOGIN).json()
    body = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    kwargs: dict[str, Any] = {"json": body} if as_json else {"data": body}
    r = emulator.anon("POST", "/oauth/token", **kwargs)
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["expires_in"] == 7200 and second["scope"] is None
    assert (
        second["refresh_token"] != first["refresh_token"] and second["access_token"] != first["access_token"]
    )
    assert emulator.anon("GET", f"{U}/devices", headers=bearer(second["access_token"])).status_code == 200
    # The old refresh token stopped working; the new one works once more.
    before = token_count(emulator)
    again = emulator.anon("POST", "/oauth/token", data=body)
    assert again.status_code == 401 and "refresh token" in again.json()["error"]["message"]
    assert token_count(emulator) == before
    third = {"grant_type": "refresh_token", "refresh_token": second["refresh_token"]}
    assert emulator.anon("POST", "/oauth/token", data=third).status_code == 200


def test_access_tokens_expire_after_7200_s_and_refresh_tokens_still_work(emulator: InProcessEmulator) -> None:
    answer = emulator.anon("POST", "/oauth/token", data=LOGIN).json()
    emulator.advance(7199)
    assert emulator.anon("GET", f"{U}/devices", headers=bearer(answer["access_token"])).status_code == 200
    emulator.advance(2)
    r = emulator.anon("GET", f"{U}/devices", headers=bearer(answer["access_token"])).json()
    assert "expired" in r["error"]["message"]
    body = {"grant_type": "refresh_token", "refresh_token": answer["refresh_token"]}
    renewed = emulator.anon("POST", "/oauth/token", data=body).json()
    assert emulator.anon("GET", f"{U}/devices", headers=bearer(renewed["access_token"])).status_code == 200


def test_an_expired_refresh_token_is_refused(emulator: InProcessEmulator) -> None:
    answer = emulator.anon("POST", "/oauth/token", data=LOGIN).json()
    emulator.advance(30 * 86400 + 1)
    body = {"grant_type": "refresh_token", "refresh_token": answer["refresh_token"]}
    assert emulator.anon("POST", "/oauth/token", data=body).status_code == 401


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"grant_type": "password", "username": "local", "password": "wrong"}, 401, "bad username"),
        ({"grant_type": "password", "username": "bob", "password": TEST_TOKEN}, 401, "bad username"),
        ({"grant_type": "password", "username": "local"}, 400, "'password'"),
        ({"grant_type": "refresh_token"}, 400, "'refresh_token'"),
        ({"grant_type": "refresh_token", "refresh_token": "nope"}, 401, "refresh token"),
        ({"grant_type": "refresh_token", "refresh_token": TEST_TOKEN}, 401, "refresh token"),
        ({"grant_type": "client_credentials", "client_id": "local"}, 400, "grant_type"),
        ({"username": "local", "password": TEST_TOKEN}, 400, "grant_type"),
    ],
)
def test_bad_requests_are_clear_and_issue_nothing(
    emulator: InProcessEmulator, body: dict[str, str], status: int, words: str
) -> None:
    before = token_count(emulator)
    r = emulator.anon("POST", "/oauth/token", data=body)
    assert r.status_code == status, r.text
    assert words in r.json()["error"]["message"]
    assert token_count(emulator) == before


def test_bodies_that_are_neither_form_nor_json_object(emulator: InProcessEmulator) -> None:
    before = token_count(emulator)
    r = emulator.anon(
        "POST", "/oauth/token", content=b"grant_type=password", headers={"Content-Type": "text/plain"}
    )
    assert r.status_code == 400 and "form" in r.json()["error"]["message"]
    r = emulator.anon("POST", "/oauth/token", json=["grant_type", "password"])
    assert r.status_code == 400 and "object" in r.json()["error"]["message"]
    r = emulator.anon("POST", "/oauth/token", content=b"{", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["error"]["message"]
    assert token_count(emulator) == before


@pytest.mark.parametrize(
    "content_type",
    [
        "Application/X-WWW-Form-Urlencoded",
        " application/x-www-form-urlencoded ; charset=UTF-8",
        "APPLICATION/JSON",
        "application/json ; charset=utf-8",
    ],
)
def test_media_types_are_read_case_insensitively(emulator: InProcessEmulator, content_type: str) -> None:
    """Type and subtype are case-insensitive and may be followed by spaces before ';' (RFC 9110 section
    8.3.1): a client spelling them so still logs in."""
    import json
    from urllib.parse import urlencode

    body = json.dumps(LOGIN) if "json" in content_type.lower() else urlencode(LOGIN)
    r = emulator.anon("POST", "/oauth/token", content=body, headers={"Content-Type": content_type})
    assert r.status_code == 200, r.text
    assert emulator.anon("GET", f"{U}/devices", headers=bearer(r.json()["access_token"])).status_code == 200


def test_the_document_declares_each_grant_with_its_fields() -> None:
    """/_emulator/openapi.json calls a password grant without username and password invalid, as the route
    does (schemathesis' ST202 holds the document to it: tests/reliability/test_fuzz.py)."""
    import jsonschema

    from iotcli.emulator import oauth

    (spec,) = [s for s in oauth.routes.specs if s.path == "/oauth/token"]
    assert spec.body is not None
    jsonschema.validate(LOGIN, spec.body)
    jsonschema.validate({"grant_type": "refresh_token", "refresh_token": "x"}, spec.body)
    for refused in ({"grant_type": "password"}, {"grant_type": "refresh_token", "refresh_token": ""}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(refused, spec.body)
