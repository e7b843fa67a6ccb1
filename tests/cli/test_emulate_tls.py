"""``iotcli emulate --tls``: a real emulator process serving HTTPS, driven by the CLI and by httpx."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
import pytest

from iotcli.emulator.tls import ensure_certificates
from tests.harness import TEST_TOKEN, EmulatorProcess, run_cli


@pytest.fixture
def tls_emulator(tmp_path: Path):
    emu = EmulatorProcess(tmp_path / "emu", tls=True).start()
    try:
        yield emu
    finally:
        emu.stop()


def test_tls_emulator_trusted_by_cli_and_by_its_ca_only(
    tls_emulator: EmulatorProcess, tmp_path: Path
) -> None:
    emu = tls_emulator
    assert emu.url.startswith("https://") and emu.ca_file is not None and emu.ca_file.is_file()
    # The announcement the CLI finds names the CA file (and the https URL).
    record = json.loads((Path(os.environ["IOTCLI_DATA_DIR"]) / "running" / f"{emu.port}.json").read_text())
    assert record["url"] == emu.url and record["ca_file"] == str(emu.ca_file)

    # The CLI, without any flag: finds the emulator, its token and its CA.
    created = run_cli(["device", "create", "d1", "--bucket", "b1", "--json"])
    assert created.exit_code == 0, created.stderr
    listed = run_cli(["device", "list", "--json"])
    assert listed.exit_code == 0, listed.stderr
    assert [d["device"] for d in listed.json()["data"]] == ["d1"]
    sent = run_cli(["send-uplink", "--device", "d1", "--data", '{"t": 21}'])
    assert sent.exit_code == 0, sent.stderr
    with emu.client() as http:
        rows = http.get("/v1/users/local/buckets/b1/data").json()
        assert [r["val"] for r in rows] == [{"t": 21}]
        # The emulator's own outbound calls trust its CA for its own https URLs (a sink).
        sink = http.post("/_emulator/sinks", json={"name": "s1"}).json()
        assert sink["url"].startswith("https://")
        endpoint = {
            "endpoint": "e1",
            "type": "http_request",
            "config": {"url": sink["url"], "method": "POST"},
        }
        assert http.post("/v1/users/local/endpoints", json=endpoint).status_code == 200
        answer = http.post("/v1/users/local/endpoints/e1/call", json={"x": 1}).json()
        assert answer["status"] == 200, answer
        # Forwarding to an https sink that answers with a class-A downlink to the https downlinkUrl.
        http.post("/_emulator/sinks", json={"name": "app", "downlink": {"payload_hex": "0A", "FPort": 2}})
        made = run_cli(["connection", "create", "c1", "--destination", "sink:app", "--json"])
        assert made.exit_code == 0, made.stderr
        up = run_cli(["send-uplink", "--deveui", "0011223344556677", "--fport", "1", "--payload-hex", "01"])
        assert up.exit_code == 0, up.stderr
        deadline = time.monotonic() + 10
        seen: list = []
        while time.monotonic() < deadline and not (seen and seen[0]["answer"].get("downlink")):
            seen = http.get("/_emulator/sinks/app/requests").json()
            time.sleep(0.05)
        assert json.loads(seen[0]["body"])["DevEUI_uplink"]["downlinkUrl"].startswith(emu.url + "/iot-flow/")
        assert seen[0]["answer"]["downlink"]["status"] == 202, seen[0]["answer"]

    # A client that does not trust the CA is refused (verification is never turned off).
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{emu.url}/_emulator/health")

    # --ca-file names the CA to trust: the right one works, another CA gives the one-line TLS error.
    base = ["--server", emu.url, "--token", TEST_TOKEN]
    ok = run_cli([*base, "--ca-file", str(emu.ca_file), "device", "list", "--json"])
    assert ok.exit_code == 0, ok.stderr
    other = ensure_certificates(tmp_path / "other").ca_file
    refused = run_cli([*base, "--ca-file", str(other), "device", "list"])
    assert refused.exit_code == 6
    assert "TLS failed" in refused.stderr and "--ca-file" in refused.stderr
    assert "Traceback" not in refused.stderr
    refused = run_cli(["send-uplink", "--ca-file", str(other), "--device", "d1", "--data", "{}"])
    assert refused.exit_code == 6, refused.stderr
    assert "--ca-file" in refused.stderr
    missing = run_cli([*base, "--ca-file", str(tmp_path / "nope.pem"), "device", "list"])
    assert missing.exit_code == 3 and "nope.pem" in missing.stderr
    # The profile's ca_file, and IOTCLI_CA_FILE, do the same.
    assert run_cli(["config", "set", "ca_file", str(other)]).exit_code == 0
    assert run_cli([*base, "device", "list"]).exit_code == 6
    env_ok = run_cli([*base, "device", "list"], env={"IOTCLI_CA_FILE": str(emu.ca_file)})
    assert env_ok.exit_code == 0, env_ok.stderr


def test_tls_banner_names_the_ca_file(tmp_path: Path) -> None:
    emu = EmulatorProcess(tmp_path / "emu", tls=True).start()
    emu.stop()
    out, _err = emu.output()
    assert f"listening on {emu.url}" in out
    assert f"CA file:  {emu.ca_file}" in out


def test_snippets_trust_the_private_ca(tmp_path: Path) -> None:
    ca = ensure_certificates(tmp_path / "tls").ca_file
    base = [
        "--server",
        "https://127.0.0.1:8443",
        "--ca-file",
        str(ca),
        "device",
        "snippet",
        "d1",
        "--token",
        "t",
    ]
    texts = {}
    for lang in ("curl", "httpie", "python", "arduino", "postman"):
        r = run_cli([*base, "--lang", lang])
        assert r.exit_code == 0, r.stderr
        texts[lang] = r.stdout
    assert f"--cacert {ca}" in texts["curl"]
    assert f"--verify={ca}" in texts["httpie"]
    assert (
        f"CA_FILE = {str(ca)!r}" in texts["python"]
        and "verify=ssl.create_default_context(cafile=CA_FILE)" in texts["python"]
    )
    compile(texts["python"], "d1.py", "exec")
    assert "client.setCACert(CA_CERT);" in texts["arduino"] and "setInsecure" not in texts["arduino"]
    assert ca.read_text().strip() in texts["arduino"]
    assert f"CA certificates: select {ca}" in json.loads(texts["postman"])["info"]["description"]
    # Without a private CA the snippets stay as they were.
    plain = run_cli(["--server", "https://example.com", "device", "snippet", "d1", "--token", "t"])
    assert "--cacert" not in plain.stdout


def test_detach_passes_tls_and_verifies_it() -> None:
    started = run_cli(["emulate", "--detach", "--in-memory", "--port", "0", "--tls", "--json"])
    assert started.exit_code == 0, started.stderr
    info = started.json()["data"]
    try:
        # --in-memory keeps the CA in the default emulator dir: one CA to trust across runs.
        ca = Path(os.environ["IOTCLI_DATA_DIR"]) / "emulator" / "tls" / "ca.pem"
        assert info["url"].startswith("https://") and info["ca_file"] == str(ca)
        listed = run_cli(["--server", info["url"], "device", "list", "--json"])
        assert listed.exit_code == 0, listed.stderr
    finally:
        assert run_cli(["emulator", "stop", "--server", info["url"]]).exit_code == 0
