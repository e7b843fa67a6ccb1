"""examples/: each example runs (or is checked) here, against a real emulator where it talks to one."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from iotcli import snippets
from tests.harness import EmulatorProcess, Sink, run_cli

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
EXAMPLE_TARGET = snippets.DeviceTarget("http://127.0.0.1:8100", "local", "sensor-1")


def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOTCLI_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["IOTCLI_CONFIG_DIR"] = str(tmp_path / "config")
    env["IOTCLI_DATA_DIR"] = str(tmp_path / "data")
    return env


@pytest.fixture
def real(tmp_path: Path) -> Iterator[EmulatorProcess]:
    with EmulatorProcess(None, env=clean_env(tmp_path)) as emu:
        yield emu


def test_every_example_says_how_to_run_it() -> None:
    for path in EXAMPLES.rglob("*"):
        if path.is_file() and path.suffix in (".sh", ".py", ".yml", ".ino"):
            head = path.read_text()[:1500]
            assert re.search(r"\b(Run|Use)\b", head), f"{path.name} has no 'Run:' header"
    for name in ("curl-device.sh", "ci-smoke.sh", "app_server.py"):
        assert os.access(EXAMPLES / name, os.X_OK), f"{name} is not executable"


def test_ci_smoke_script_passes_against_a_real_emulator(tmp_path: Path) -> None:
    before = smoke_emulators()
    run = subprocess.run(
        ["bash", str(EXAMPLES / "ci-smoke.sh")],
        capture_output=True,
        text=True,
        timeout=240,
        env=clean_env(tmp_path),
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.rstrip().endswith("smoke test passed")
    assert run.stdout.count("ok: ") >= 6
    # The waits say what they saw (the CI log shows it), and the sink got the uplink resent after its 503.
    assert "waited for sink 'app' to get 2 requests matching X-Thing=0018B20000000B20" in run.stderr
    assert "waited for 1 downlink to be sent" in run.stderr
    assert_no_emulator_left(before)
    # The emulator was stopped by `iotcli emulator stop`: nothing of it is recorded any more.
    assert not list((tmp_path / "data" / "detached").glob("*.json"))


def test_ci_smoke_script_is_short_and_needs_nothing_but_iotcli() -> None:
    text = (EXAMPLES / "ci-smoke.sh").read_text()
    assert len(text.splitlines()) <= 32
    # No hand-written server, no polling loop, no JSON evaluated in Python: sinks, apply and wait do it.
    for gone in ("app_server.py", "python", "sleep", "eval"):
        assert gone not in text.replace("python -m iotcli", ""), gone
    assert "smoke-env.toml" in text and (EXAMPLES / "smoke-env.toml").is_file()


def test_smoke_env_file_is_valid() -> None:
    from iotcli.provision import load_env

    env = load_env(EXAMPLES / "smoke-env.toml")
    assert set(env.sections) == {"sinks", "buckets", "devices", "connections"}


def smoke_emulators() -> set[str]:
    """Command lines of running emulators started by a smoke script (their tokens are unique per run)."""
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return {line for line in ps.splitlines() if " emulate " in line and "ci-smoke-" in line}


def assert_no_emulator_left(before: set[str]) -> None:
    """The script's cleanup stops the emulator it started: no process outlives the run."""
    import time

    deadline = time.monotonic() + 10
    while (left := smoke_emulators() - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"emulator processes left running: {left}"


def test_ci_smoke_script_fails_on_a_missed_expectation(tmp_path: Path) -> None:
    """A broken CLI must fail the smoke test (it is only useful if it can fail)."""
    env = clean_env(tmp_path)
    env["IOTCLI"] = f"{sys.executable} -m iotcli --token wrong-token"  # every API call is refused
    before = smoke_emulators()
    run = subprocess.run(
        ["bash", str(EXAMPLES / "ci-smoke.sh")], capture_output=True, text=True, timeout=120, env=env
    )
    assert run.returncode == 1 and "FAILED: " in run.stderr
    assert_no_emulator_left(before)


def test_curl_example_creates_a_device_and_posts_to_it(real: EmulatorProcess, tmp_path: Path) -> None:
    env = {**clean_env(tmp_path), "SERVER": real.url, "TOKEN": real.token, "USER_ID": "local"}
    run = subprocess.run(
        ["bash", str(EXAMPLES / "curl-device.sh"), "porch"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert '{"led":"on"}' in run.stdout  # the device's answer
    with real.client() as h:
        assert h.get("/v1/users/local/devices/porch").status_code == 200
        records = h.get("/v1/users/local/buckets/porch-data/data").json()
    assert [r["val"] for r in records] == [{"temperature": 21.5, "humidity": 48}]
    again = subprocess.run(
        ["bash", str(EXAMPLES / "curl-device.sh"), "porch"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert again.returncode == 0, again.stdout + again.stderr  # runs twice in a row
    assert "device porch exists: kept" in again.stdout and '{"led":"on"}' in again.stdout
    with real.client() as h:
        assert len(h.get("/v1/users/local/buckets/porch-data/data").json()) == 2


def test_curl_example_fails_with_a_bad_token(real: EmulatorProcess, tmp_path: Path) -> None:
    env = {**clean_env(tmp_path), "SERVER": real.url, "TOKEN": "wrong"}
    run = subprocess.run(
        ["bash", str(EXAMPLES / "curl-device.sh")], capture_output=True, text=True, timeout=60, env=env
    )
    assert run.returncode != 0


def test_postman_and_arduino_examples_are_the_snippets() -> None:
    coll = json.loads((EXAMPLES / "postman" / "iotcli-device.postman_collection.json").read_text())
    env = json.loads((EXAMPLES / "postman" / "iotcli-device.postman_environment.json").read_text())
    assert coll == snippets.postman_collection(EXAMPLE_TARGET)
    assert env == snippets.postman_environment(EXAMPLE_TARGET)
    assert {v["key"] for v in env["values"]} == {"server", "user", "device", "token"}
    sketch = (EXAMPLES / "arduino" / "iotcli_device" / "iotcli_device.ino").read_text()
    assert sketch == snippets.arduino(EXAMPLE_TARGET)


@pytest.mark.skipif(
    shutil.which("node") is None, reason="node is not installed: newman (the Postman runner) needs it"
)
def test_postman_example_runs_under_newman(real: EmulatorProcess) -> None:
    from tests.cli.test_snippet import newman_path

    with real.client() as h:
        h.post(
            "/v1/users/local/buckets",
            json={"bucket": "b", "name": "b", "enabled": True, "config": {"source": "write"}},
        ).raise_for_status()
        h.post("/v1/users/local/devices", json={"device": "sensor-1", "type": "HTTP"}).raise_for_status()
        h.put(
            "/v3/users/local/devices/sensor-1/callback", json={"actions": {"write_bucket": "b"}}
        ).raise_for_status()
        token = h.post("/v1/users/local/devices/sensor-1/tokens", json={"token_name": "pm"}).json()["token"]
        run = subprocess.run(
            [
                str(newman_path()),
                "run",
                str(EXAMPLES / "postman" / "iotcli-device.postman_collection.json"),
                "-e",
                str(EXAMPLES / "postman" / "iotcli-device.postman_environment.json"),
                "--env-var",
                f"server={real.url}",
                "--env-var",
                f"token={token}",
                "--color",
                "off",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stdout[-3000:]
        assert [r["val"] for r in h.get("/v1/users/local/buckets/b/data").json()] == [
            {"temperature": 21.5, "humidity": 48}
        ]


def _start_app(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-u", str(EXAMPLES / "app_server.py"), "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    m = re.search(r"listening on (http://\S+)", first)
    assert m, first
    return proc, m.group(1)


def _read_until(proc: subprocess.Popen[str], needle: str, timeout: float = 10) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line.rstrip())
        if needle in line:
            return lines
    raise AssertionError(f"{needle!r} not in {lines}")


def test_app_server_logs_uplinks_and_posts_a_downlink(sink: Sink) -> None:
    proc, url = _start_app("--downlink-hex", "0a0b", "--as-id", "app-1", "--as-key", "k")
    try:
        r = run_cli(
            [
                "send-uplink",
                "--deveui",
                "0018B20000000B20",
                "--fport",
                "5",
                "--payload-hex",
                "01",
                "--payload",
                '{"t": 20}',
                "--to",
                url + "uplink",
                "--downlink-url",
                sink.url + "/dl/x",
            ]
        )
        assert r.exit_code == 0, r.stderr
        _read_until(proc, 'uplink DevEUI=0018B20000000B20 FCntUp=0 FPort=5 payload_hex=01 payload={"t": 20}')
        down = sink.wait_for(1)[0]
        assert down.path == "/dl/x"
        assert down.json() == {
            "DevEUI_downlink": {
                "DevEUI": "0018B20000000B20",
                "FPort": 5,
                "payload_hex": "0a0b",
                "AS_ID": "app-1",
                "AS_KEY": "k",
            }
        }
        _read_until(proc, "downlink 0018B20000000B20 -> 200")
        # the reports that come back are logged too
        sent = {"DevEUI_downlink_Sent": {"DevEUI": "0018B20000000B20", "FCntDn": 3, "DeliveryStatus": 1}}
        assert httpx.post(url + "uplink", json=sent).status_code == 200
        _read_until(proc, "DevEUI_downlink_Sent DevEUI=0018B20000000B20 FCntDn=3 status=1")
    finally:
        proc.terminate()
        proc.wait(10)


def test_github_actions_workflow_runs_the_smoke_script() -> None:
    text = (EXAMPLES / "github-actions.yml").read_text()
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        assert "run: bash examples/ci-smoke.sh" in text and "actions/checkout@" in text
        return
    doc = yaml.safe_load(text)
    steps = doc["jobs"]["smoke"]["steps"]
    assert any(s.get("run") == "bash examples/ci-smoke.sh" for s in steps)
    assert any(str(s.get("uses", "")).startswith("actions/checkout@") for s in steps)
