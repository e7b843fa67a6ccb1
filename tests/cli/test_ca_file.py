"""One rule for the CA an https target must chain to (``CliState.ca_file_for``), shared by send-uplink and
fleet run: a CA file that does not exist is one line naming it, exit 3, before anything is sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import run_cli


@pytest.mark.parametrize(
    "command",
    [
        ["send-uplink", "--url", "https://127.0.0.1:1/x", "a=1"],
        ["fleet", "run", "--to", "https://127.0.0.1:1/as", "--no-downlink-url", "--uplinks", "1"],
    ],
)
def test_a_missing_ca_file_is_a_config_error_naming_it(command: list[str], tmp_path: Path) -> None:
    missing = tmp_path / "no-such-ca.pem"
    r = run_cli(["--ca-file", str(missing), *command], env={"IOTCLI_CONFIG_DIR": str(tmp_path / "cfg")})
    assert r.exit_code == 3, (r.exit_code, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert lines[0] == f"error: the CA file {missing} does not exist", r.stderr
    assert "Traceback" not in r.stderr


def test_plain_http_needs_no_ca(tmp_path: Path) -> None:
    r = run_cli(
        [
            "--ca-file",
            str(tmp_path / "no-such-ca.pem"),
            "send-uplink",
            "--url",
            "http://127.0.0.1:1/x",
            "a=1",
        ],
        env={"IOTCLI_CONFIG_DIR": str(tmp_path / "cfg")},
    )
    assert r.exit_code == 6, r.stderr  # refused: the CA is never looked at for http://
