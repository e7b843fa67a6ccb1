"""Every token the emulator issues is a JWT like the real server's: HS256, claims usr/jti/iat/exp/dev/svr,
signed with a key kept in the data dir; a --token given by the user is used as given; an opaque account
token an older version kept goes on working beside the new JWT."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from iotcli.emulator.auth import SIGNING_KEY_FILE, hash_token
from iotcli.emulator.core import write_account_file
from iotcli.emulator.settings import EmulatorSettings
from tests.emulator.thinger_helpers import U, create_device
from tests.harness import TEST_TOKEN, InProcessEmulator


def claims(token: str) -> dict[str, Any]:
    """What a client sees decoding the token without the key (as jsonwebtoken's decode does)."""
    return jwt.decode(token, options={"verify_signature": False})  # type: ignore[no-any-return]


def started(settings: EmulatorSettings) -> InProcessEmulator:
    emu = InProcessEmulator(settings)
    emu.token = emu.emu.account_token
    return emu


@pytest.fixture
def jwt_emulator() -> Iterator[InProcessEmulator]:
    """In memory, without --token: the account token is a generated JWT."""
    with started(EmulatorSettings(data_dir=None, token=None, user="local")) as emu:
        yield emu


def test_generated_account_token_is_a_jwt_of_the_account(jwt_emulator: InProcessEmulator) -> None:
    token = jwt_emulator.token
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256"
    c = claims(token)
    assert c["usr"] == "local" and c["svr"] == "127.0.0.1"
    assert isinstance(c["jti"], str) and c["jti"] and isinstance(c["iat"], int)
    assert "exp" not in c  # the account token does not expire
    assert jwt_emulator.http.get(f"{U}/devices").status_code == 200
    # The signature is the emulator's: a token with the same claims signed with another key is refused.
    forged = jwt.encode(c, b"another key, 32 bytes long......", algorithm="HS256")
    r = jwt_emulator.anon("GET", f"{U}/devices", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401


def test_oauth_and_device_tokens_are_jwts_with_their_claims(jwt_emulator: InProcessEmulator) -> None:
    emu = jwt_emulator
    form = {"grant_type": "password", "username": "local", "password": emu.token}
    answer = emu.anon("POST", "/oauth/token", data=form).json()
    now = int(emu.emu.clock.now())
    access, refresh = claims(answer["access_token"]), claims(answer["refresh_token"])
    assert access["usr"] == "local" and access["svr"] == "127.0.0.1" and "dev" not in access
    assert abs(access["iat"] - now) <= 2 and access["exp"] == access["iat"] + 7200
    assert refresh["usr"] == "local" and refresh["jti"] != access["jti"]

    create_device(emu, "d1")
    r = emu.http.post(
        f"{U}/devices/d1/tokens", json={"token_name": "t", "token_expiration": (now + 600) * 1000}
    )
    assert r.status_code == 200, r.text
    dev = claims(r.json()["token"])
    assert dev["usr"] == "local" and dev["dev"] == "d1" and dev["jti"] == r.json()["id"]
    assert dev["exp"] == now + 600
    never = emu.http.post(f"{U}/devices/d1/tokens", json={"token_name": "forever"}).json()
    assert "exp" not in claims(never["token"])


def test_only_hashes_of_issued_tokens_are_stored(jwt_emulator: InProcessEmulator) -> None:
    emu = jwt_emulator
    create_device(emu, "d1")
    token = emu.http.post(f"{U}/devices/d1/tokens", json={"token_name": "t"}).json()["token"]
    rows = emu.run(emu.emu.store.read(lambda c: [tuple(r) for r in c.execute("SELECT * FROM tokens")]))
    assert token not in json.dumps(rows) and hash_token(token) in json.dumps(rows)


def test_a_given_token_is_used_as_given(tmp_path: Path) -> None:
    with started(EmulatorSettings(data_dir=tmp_path / "d", token=TEST_TOKEN)) as emu:
        assert emu.emu.account_token == TEST_TOKEN
        assert emu.http.get(f"{U}/devices").status_code == 200
        assert not (tmp_path / "d" / "account.json").exists()


def test_signing_key_is_kept_owner_only_and_tokens_survive_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "emu"
    with started(EmulatorSettings(data_dir=data, token=None)) as emu:
        account = emu.token
        create_device(emu, "d1")
        device_token = emu.http.post(f"{U}/devices/d1/tokens", json={"token_name": "t"}).json()["token"]
    key = data / SIGNING_KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_bytes()) >= 32
    with started(EmulatorSettings(data_dir=data, token=None)) as emu:
        assert emu.token == account
        jwt.decode(account, key.read_bytes(), algorithms=["HS256"])  # still signed with the kept key
        r = emu.anon("POST", "/v3/users/local/devices/d1/callback/data", json={"a": 1},
                     headers={"Authorization": f"Bearer {device_token}"})  # fmt: skip
        assert r.status_code == 200, r.text


def test_in_memory_runs_get_their_own_key() -> None:
    with (
        started(EmulatorSettings(data_dir=None, token=None)) as a,
        started(EmulatorSettings(token=None)) as b,
    ):
        assert a.token != b.token
        r = b.anon("GET", f"{U}/devices", headers={"Authorization": f"Bearer {a.token}"})
        assert r.status_code == 401


def test_an_opaque_account_token_of_an_older_version_keeps_working(tmp_path: Path) -> None:
    data = tmp_path / "emu"
    write_account_file(data, "local", "opaque-old-token-0123456789")  # what an older iotcli kept
    with started(EmulatorSettings(data_dir=data, token=None)) as emu:
        assert claims(emu.token)["usr"] == "local"  # the account token is a JWT now
        old = {"Authorization": "Bearer opaque-old-token-0123456789"}
        assert emu.anon("GET", f"{U}/devices", headers=old).status_code == 200
        form = {"grant_type": "password", "username": "local", "password": "opaque-old-token-0123456789"}
        assert emu.anon("POST", "/oauth/token", data=form).status_code == 200
        new = emu.token
    kept = json.loads((data / "account.json").read_text())
    assert kept["token"] == new and "opaque-old-token-0123456789" not in json.dumps(kept)
    assert kept["legacy_token_sha256"] == [hash_token("opaque-old-token-0123456789")]
    with started(EmulatorSettings(data_dir=data, token=None)) as emu:
        assert emu.token == new  # upgraded once, then kept
        old = {"Authorization": "Bearer opaque-old-token-0123456789"}
        assert emu.anon("GET", f"{U}/devices", headers=old).status_code == 200
