"""`iotcli device snippet`: each snippet is run where it can be, against a real emulator process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from iotcli import snippets
from tests.harness import CliResult, EmulatorProcess, run_cli

REPO = Path(__file__).resolve().parents[2]
STUBS = Path(__file__).parent / "arduino_stub"
NEWMAN_DIR = REPO / ".cache" / "newman"
VENV_HTTP = Path(sys.executable).parent / "http"
HTTP = shutil.which("http") or (str(VENV_HTTP) if VENV_HTTP.exists() else None)


@dataclass
class Provisioned:
    emu: EmulatorProcess
    http: httpx.Client

    def device(self, device: str) -> str:
        """Create an HTTP device that stores into bucket <device> and answers with property 'cmd'; return a device token."""
        h = self.http
        assert (
            h.post(
                "/v1/users/local/buckets",
                json={"bucket": device, "name": device, "enabled": True, "config": {"source": "write"}},
            ).status_code
            == 200
        )
        assert h.post("/v1/users/local/devices", json={"device": device, "type": "HTTP"}).status_code == 200
        h.put(
            f"/v3/users/local/devices/{device}/properties/cmd", json={"value": {"led": True}}
        ).raise_for_status()
        r = h.put(
            f"/v3/users/local/devices/{device}/callback",
            json={"actions": {"write_bucket": device, "send_property": "cmd"}},
        )
        assert r.status_code == 200, r.text
        r = h.post(f"/v1/users/local/devices/{device}/tokens", json={"token_name": "snippet"})
        assert r.status_code == 200, r.text
        return str(r.json()["token"])

    def stored(self, bucket: str) -> list[dict[str, object]]:
        r = self.http.get(f"/v1/users/local/buckets/{bucket}/data")
        r.raise_for_status()
        return [rec["val"] for rec in r.json()]


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provisioned]:
    data = tmp_path_factory.mktemp("snippet-emu")
    with (
        EmulatorProcess(None, env={"IOTCLI_DATA_DIR": str(data), "IOTCLI_CONFIG_DIR": str(data)}) as emu,
        emu.client() as h,
    ):
        yield Provisioned(emu, h)


def snippet(real: Provisioned, *args: str) -> CliResult:
    return run_cli(["device", "snippet", *args], env={"IOTCLI_SERVER": real.emu.url})


def test_curl_snippet_stores_data(real: Provisioned) -> None:
    token = real.device("snip-curl")
    r = snippet(real, "snip-curl", "--lang", "curl", "--token", token)
    assert r.exit_code == 0, r.stderr
    run = subprocess.run(["bash", "-c", r.stdout], capture_output=True, text=True, timeout=20)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"led": True}  # the device got its command back
    assert real.stored("snip-curl") == [snippets.DEFAULT_BODY]


@pytest.mark.skipif(
    HTTP is None,
    reason="HTTPie ('http') is not installed; it is not an iotcli dependency (pip install httpie)",
)
def test_httpie_snippet_stores_data(real: Provisioned) -> None:
    token = real.device("snip-httpie")
    r = snippet(
        real,
        "snip-httpie",
        "--lang",
        "httpie",
        "--token",
        token,
        "--data",
        '{"t": 1.5, "where": "hall", "ok": true}',
    )
    assert r.exit_code == 0, r.stderr
    command = r.stdout.replace("\nhttp ", f"\n{HTTP} ", 1)
    run = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    assert real.stored("snip-httpie") == [{"t": 1.5, "where": "hall", "ok": True}]


def test_python_snippet_runs_and_stores_data(real: Provisioned, tmp_path: Path) -> None:
    token = real.device("snip-py")
    out = tmp_path / "snip.py"
    r = snippet(real, "snip-py", "--lang", "python", "--token", token, "-o", str(out))
    assert r.exit_code == 0, r.stderr
    run = subprocess.run([sys.executable, str(out)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("200 OK") and '{"led":true}' in run.stdout.replace(" ", "")
    assert real.stored("snip-py") == [snippets.DEFAULT_BODY]
    # a wrong token: the script fails with the platform's status
    bad = subprocess.run(
        [sys.executable, str(out)],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "DEVICE_TOKEN": "wrong"},
    )
    assert bad.returncode == 1 and bad.stdout.startswith("401")


def newman_path() -> Path:
    """newman from the npm registry, installed once into .cache/newman (git-ignored)."""
    exe = NEWMAN_DIR / "node_modules" / ".bin" / "newman"
    if not exe.exists():
        NEWMAN_DIR.mkdir(parents=True, exist_ok=True)
        npm = shutil.which("npm")
        assert npm, "node is installed but npm is not"
        run = subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(NEWMAN_DIR),
                "newman",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, f"npm install newman failed: {run.stderr[-2000:]}"
    return exe


@pytest.mark.skipif(
    shutil.which("node") is None, reason="node is not installed: newman (the Postman runner) needs it"
)
def test_postman_collection_passes_under_newman(real: Provisioned, tmp_path: Path) -> None:
    token = real.device("snip-postman")
    coll, env = tmp_path / "c.json", tmp_path / "e.json"
    r = snippet(
        real,
        "snip-postman",
        "--lang",
        "postman",
        "--token",
        token,
        "-o",
        str(coll),
        "--environment",
        str(env),
    )
    assert r.exit_code == 0, r.stderr
    collection = json.loads(coll.read_text())
    assert collection["info"]["schema"] == snippets.POSTMAN_SCHEMA
    assert token not in coll.read_text()  # the secret lives in the environment only
    values = {v["key"]: v["value"] for v in json.loads(env.read_text())["values"]}
    assert values == {"server": real.emu.url, "user": "local", "device": "snip-postman", "token": token}
    run = subprocess.run(
        [str(newman_path()), "run", str(coll), "-e", str(env), "--color", "off"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    assert real.stored("snip-postman") == [snippets.DEFAULT_BODY]
    # without the environment there is no token: the collection's own tests fail
    bad = subprocess.run(
        [str(newman_path()), "run", str(coll), "--color", "off"], capture_output=True, text=True, timeout=120
    )
    assert bad.returncode != 0


def test_arduino_sketch_has_url_headers_and_body(tmp_path: Path) -> None:
    r = run_cli(
        [
            "device",
            "snippet",
            "sensor-1",
            "--lang",
            "arduino",
            "--token",
            "dev-tok",
            "--data",
            '{"temperature": 21.5, "humidity": 48, "room": "k", "on": true}',
        ],
        env={"IOTCLI_SERVER": "http://192.168.1.10:8100"},
    )
    assert r.exit_code == 0, r.stderr
    sketch = r.stdout
    url = "http://192.168.1.10:8100/v3/users/local/devices/sensor-1/callback/data"
    assert f'CALLBACK_URL = "{url}"' in sketch and 'DEVICE_TOKEN = "dev-tok"' in sketch
    assert "#include <ESP8266HTTPClient.h>" in sketch and "#include <HTTPClient.h>" in sketch
    assert 'http.addHeader("Authorization", String("Bearer ") + DEVICE_TOKEN);' in sketch
    assert 'http.addHeader("Content-Type", "application/json");' in sketch
    assert "http.POST(body)" in sketch and "http.getString()" in sketch
    if shutil.which("g++") is None:
        pytest.skip("g++ is not installed: the sketch was checked as text only")
    (tmp_path / "sketch.ino").write_text(sketch)
    exe = tmp_path / "sketch"
    build = subprocess.run(
        ["g++", "-std=c++17", "-I", str(tmp_path), "-I", str(STUBS), str(STUBS / "main.cpp"), "-o", str(exe)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert build.returncode == 0, build.stderr
    lines = subprocess.run(
        [str(exe)], capture_output=True, text=True, timeout=10, check=True
    ).stdout.splitlines()
    assert f"URL {url}" in lines
    assert (
        "HEADER Authorization: Bearer dev-tok" in lines and "HEADER Content-Type: application/json" in lines
    )
    body = next(line[5:] for line in lines if line.startswith("BODY "))
    assert json.loads(body) == {"temperature": 21.5, "humidity": 48, "room": "k", "on": True}
    assert 'SERIAL {"led":true}' in lines  # the answer is read and printed


def test_https_server_gives_a_secure_client() -> None:
    r = run_cli(
        ["device", "snippet", "d1", "--lang", "arduino", "--token", "x"],
        env={"IOTCLI_SERVER": "https://acme.example"},
    )
    assert "WiFiClientSecure client;" in r.stdout and "setInsecure" in r.stdout


def test_no_token_gives_a_placeholder_and_says_so() -> None:
    r = run_cli(["device", "snippet", "d1", "--lang", "curl"], env={"IOTCLI_SERVER": "http://127.0.0.1:1"})
    assert r.exit_code == 0
    assert "Authorization: Bearer <DEVICE_TOKEN>" in r.stdout
    assert "<DEVICE_TOKEN>" in r.stderr and "--token" in r.stderr


def test_profile_token_is_used_with_a_warning() -> None:
    r = run_cli(
        ["device", "snippet", "d1", "--lang", "python"],
        env={"IOTCLI_SERVER": "http://h:1", "IOTCLI_TOKEN": "acct"},
    )
    assert "'acct'" in r.stdout and "device token is safer" in r.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["d1", "--lang", "cobol"], "--lang 'cobol'"),
        (["bad id", "--lang", "curl"], "device id 'bad id'"),
        (["d1", "--data", "{x"], "--data is not valid JSON"),
        (["d1", "--lang", "curl", "--environment", "e.json"], "--environment goes with --lang postman"),
    ],
)
def test_snippet_usage_errors(args: list[str], needle: str) -> None:
    r = run_cli(["device", "snippet", *args])
    assert r.exit_code == 2 and needle in r.stderr
