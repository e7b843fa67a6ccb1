"""Every failure becomes one line on stderr (or JSON with --json) and the contract's exit code."""

from __future__ import annotations

import httpx
import pytest
import respx

from tests.harness import free_port, run_cli

API = "http://api.test"


def status(*extra: str) -> list[str]:
    return ["--server", API, "--token", "t0k3n", *extra, "emulator", "status"]


@respx.mock
def test_2xx_is_exit_0() -> None:
    respx.get(f"{API}/_emulator/health").mock(
        return_value=httpx.Response(200, json={"status": "ok", "version": "x"})
    )
    r = run_cli(["--json", *status()])
    assert r.exit_code == 0
    assert r.json() == {"data": {"status": "ok", "version": "x"}}


@respx.mock
@pytest.mark.parametrize(("code", "exit_code"), [(400, 4), (401, 4), (403, 4), (404, 4), (500, 5), (503, 5)])
def test_http_status_classes(code: int, exit_code: int) -> None:
    respx.get(f"{API}/_emulator/health").mock(
        return_value=httpx.Response(code, json={"error": {"message": f"broken {code}"}})
    )
    r = run_cli(status())
    assert r.exit_code == exit_code
    lines = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and f"broken {code}" in lines[0]
    assert "Traceback" not in r.stderr and r.stdout == ""


@respx.mock
def test_iotflow_error_shape_is_read() -> None:
    respx.get(f"{API}/_emulator/health").mock(
        return_value=httpx.Response(400, json={"code": "BAD_REQUEST", "message": "field 'x' is wrong"})
    )
    r = run_cli(status())
    assert r.exit_code == 4 and "field 'x' is wrong" in r.stderr


@respx.mock
def test_json_errors_go_to_stdout_as_json() -> None:
    respx.get(f"{API}/_emulator/health").mock(
        return_value=httpx.Response(404, json={"error": {"message": "gone"}})
    )
    r = run_cli(["--json", *status()])
    assert r.exit_code == 4
    err = r.json()["error"]
    assert err["code"] == "http_404" and "gone" in err["message"] and err["status"] == 404
    assert "hint" in err


@respx.mock
def test_html_answer_is_summarised() -> None:
    respx.get(f"{API}/_emulator/health").mock(
        return_value=httpx.Response(
            502, text="<html><body>Bad gateway</body></html>", headers={"content-type": "text/html"}
        )
    )
    r = run_cli(status())
    assert r.exit_code == 5 and "HTML page" in r.stderr and "<html>" not in r.stderr


@respx.mock
def test_garbage_2xx_answer_is_an_error_not_a_traceback() -> None:
    respx.get(f"{API}/_emulator/health").mock(return_value=httpx.Response(200, text="not json at all"))
    r = run_cli(status())
    assert r.exit_code == 4 and "not with JSON" in r.stderr and "Traceback" not in r.stderr


@respx.mock
def test_timeout_is_exit_6() -> None:
    respx.get(f"{API}/_emulator/health").mock(side_effect=httpx.ReadTimeout("slow"))
    r = run_cli(status())
    assert r.exit_code == 6 and "no answer in time" in r.stderr


def test_connection_refused_is_exit_6_with_hint() -> None:
    port = free_port()  # nothing listens there
    r = run_cli(["--server", f"http://127.0.0.1:{port}", "--token", "x", "emulator", "status"])
    assert r.exit_code == 6
    assert "connection refused" in r.stderr and "iotcli emulate" in r.stderr


def test_usage_error_is_exit_2() -> None:
    r = run_cli(["emulator", "clock", "--advance", "soon"])
    assert r.exit_code == 2 and "not a duration" in r.stderr
    r = run_cli(["emulator", "nonsense"])
    assert r.exit_code == 2


def test_usage_error_with_json_is_json() -> None:
    r = run_cli(["--json", "emulator", "status", "--bogus"])
    assert r.exit_code == 2
    assert r.json()["error"]["code"] == "usage"


def test_bad_config_is_exit_3() -> None:
    from iotcli.config import config_path

    config_path().parent.mkdir(parents=True)
    config_path().write_text("[[[")
    r = run_cli(["emulator", "status"])
    assert r.exit_code == 3


def test_version_and_help() -> None:
    from iotcli import __version__

    r = run_cli(["--version"])
    assert r.exit_code == 0 and __version__ in r.stdout
    r = run_cli(["--help"])
    assert r.exit_code == 0 and "emulate" in r.stdout


def test_cli_module_does_not_import_the_emulator() -> None:
    import subprocess
    import sys

    code = (
        "import sys, iotcli.cli.app; "
        "bad = [m for m in ('uvicorn', 'starlette', 'iotcli.emulator', 'httpx') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def test_shell_completion_script_and_answers() -> None:
    """`iotcli --install-completion` installs what --show-completion prints; the completer answers."""
    import os
    import subprocess
    import sys

    script = subprocess.run(
        [sys.executable, "-m", "iotcli", "--show-completion", "bash"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert script.returncode == 0 and "_iotcli_completion" in script.stdout
    env = {**os.environ, "_IOTCLI_COMPLETE": "complete_bash", "COMP_WORDS": "iotcli dev", "COMP_CWORD": "1"}
    answer = subprocess.run(
        [sys.executable, "-m", "iotcli"], capture_output=True, text=True, env=env, timeout=30
    )
    assert answer.stdout.split() == ["device"]
