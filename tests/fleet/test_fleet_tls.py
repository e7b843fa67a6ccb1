"""fleet run against ``iotcli emulate --tls``: the devices check the emulator's certificate against the
CA the CLI finds for it (its announcement, --ca-file), as send-uplink does; another CA is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from iotcli.emulator.tls import ensure_certificates
from tests.harness import EmulatorProcess


@pytest.fixture
def tls_emu(tmp_path: Path) -> Iterator[EmulatorProcess]:
    emu = EmulatorProcess(tmp_path / "emu", tls=True).start()
    try:
        yield emu
    finally:
        emu.stop()


def iotcli(emu: EmulatorProcess, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "IOTCLI_CONFIG_DIR": str(tmp_path / "cfg"), "IOTCLI_SERVER": emu.url}
    env.pop("IOTCLI_CA_FILE", None)
    return subprocess.run(
        [sys.executable, "-m", "iotcli", *args],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        cwd=tmp_path,
    )


def test_a_fleet_reaches_a_tls_emulator_through_its_own_ca_and_refuses_another(
    tls_emu: EmulatorProcess, tmp_path: Path
) -> None:
    # Nothing given: the token and the CA come from the running emulator's announcement.
    r = iotcli(tls_emu, tmp_path, "fleet", "provision", "--count", "3", "--bucket", "fl", "--with-token")
    assert r.returncode == 0, r.stderr
    run = ("--json", "fleet", "run", "--interval", "50ms", "--jitter", "0%", "--uplinks", "6")
    r = iotcli(tls_emu, tmp_path, *run)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)["data"]
    assert result["sent"] >= 6 and result["errors"] == 0 and result["ok"] == result["sent"], result
    with tls_emu.client() as http:
        stored = http.get("/v1/users/local/buckets/fl/data", params={"items": 1000}).json()
    assert len(stored) == result["ok"]

    # A CA the emulator's certificate does not chain to: every uplink fails, nothing is stored.
    other = ensure_certificates(tmp_path / "other-ca")
    r = iotcli(tls_emu, tmp_path, "--ca-file", str(other.ca_file), *run)
    failed = json.loads(r.stdout)["data"]
    assert failed["ok"] == 0 and failed["errors"] >= 6, failed
    assert set(failed["errors_by_kind"]) == {"no answer: SSLCertVerificationError"}, failed
    with tls_emu.client() as http:
        assert len(http.get("/v1/users/local/buckets/fl/data", params={"items": 1000}).json()) == len(stored)
