"""`iotcli send-uplink` against a local sink: targets, body sources, output, exit codes, repeat."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.harness import CliResult, Reply, Sink, run_cli

TOKEN = "profile-token-abcdef"


def send(sink: Sink, *args: str, input: str | None = None, token: str | None = TOKEN) -> CliResult:
    env = {"IOTCLI_SERVER": sink.url}
    if token:
        env["IOTCLI_TOKEN"] = token
    return run_cli(["send-uplink", *args], input=input, env=env)


# --- targets -------------------------------------------------------------------------------------


def test_device_target_posts_to_the_callback_with_the_profile_token(sink: Sink) -> None:
    sink.default = Reply(200, {"led": True})
    r = send(sink, "--device", "sensor-1", "temp:=21.5", "name=kitchen", "on:=true")
    assert r.exit_code == 0, r.stderr
    req = sink.wait_for(1)[0]
    assert (req.method, req.path) == ("POST", "/v3/users/local/devices/sensor-1/callback/data")
    assert req.headers["authorization"] == f"Bearer {TOKEN}"
    assert req.headers["content-type"] == "application/json"
    assert req.json() == {"temp": 21.5, "name": "kitchen", "on": True}
    assert json.loads(r.stdout) == {"led": True}  # the data the device got back, pretty-printed
    assert "200 OK" in r.stderr and " ms" in r.stderr


def test_device_target_uses_user_and_command_token(sink: Sink) -> None:
    r = run_cli(
        ["--user", "acme", "send-uplink", "--device", "d1", "--token", "device-tok", "a=1"],
        env={"IOTCLI_SERVER": sink.url, "IOTCLI_TOKEN": TOKEN},
    )
    assert r.exit_code == 0, r.stderr
    req = sink.wait_for(1)[0]
    assert req.path == "/v3/users/acme/devices/d1/callback/data"
    assert req.headers["authorization"] == "Bearer device-tok"
    assert "(empty answer: no data for the device)" in r.stderr


def test_device_without_any_token_is_a_config_error(sink: Sink) -> None:
    r = send(sink, "--device", "d1", "a=1", token=None)
    assert r.exit_code == 3 and "no token" in r.stderr
    assert sink.requests == []


def test_url_target_never_gets_the_profile_token(sink: Sink) -> None:
    r = send(sink, "--url", sink.url + "/hook?x=1", "a=1", "q==2", "X-Site:A", "-H", "X-Other: b c")
    assert r.exit_code == 0, r.stderr
    req = sink.wait_for(1)[0]
    assert req.path == "/hook?x=1&q=2"
    assert "authorization" not in req.headers
    assert req.headers["x-site"] == "A" and req.headers["x-other"] == "b c"


def test_url_target_with_explicit_token_and_method(sink: Sink) -> None:
    r = send(sink, "--url", sink.url + "/x", "--token", "t1", "-X", "PUT", "a=1")
    assert r.exit_code == 0
    req = sink.wait_for(1)[0]
    assert req.method == "PUT" and req.headers["authorization"] == "Bearer t1"


def test_lorawan_uplink_goes_to_the_emulator_ingress(sink: Sink) -> None:
    sink.default = Reply(202, {"id": "u1", "FCntUp": 0, "connections": ["c1"]})
    r = send(
        sink,
        "--deveui",
        "0018-b200-0000-0b20",
        "--fport",
        "2",
        "--payload-hex",
        "0A0B",
        "--payload",
        '{"t": 21}',
        "--connection",
        "c1",
        "--connection",
        "c2",
        "LrrRSSI:=-101.5",
    )
    assert r.exit_code == 0, r.stderr
    req = sink.wait_for(1)[0]
    assert req.path == "/_emulator/lorawan/uplinks"
    assert req.headers["authorization"] == f"Bearer {TOKEN}"
    assert req.json() == {
        "DevEUI": "0018B20000000B20",
        "FPort": 2,
        "payload_hex": "0a0b",
        "payload": {"t": 21},
        "connections": ["c1", "c2"],
        "DevEUI_uplink": {"LrrRSSI": -101.5},
    }
    assert json.loads(r.stdout)["id"] == "u1"


def test_lorawan_uplink_straight_to_an_application_server(sink: Sink) -> None:
    conn = "4f0c6c1a2b3d4e5f8091a2b3c4d5e6f7"
    r = send(
        sink,
        "--deveui",
        "0018B20000000B20",
        "--payload-hex",
        "0102",
        "--to",
        sink.url + "/uplink",
        "--connection",
        conn,
        "--fcnt",
        "7",
        "--repeat",
        "2",
        "-H",
        "X-Thing: t",
    )
    assert r.exit_code == 0, r.stderr
    got = sink.wait_for(2)
    first, second = (
        g.json()["DevEUI_uplink"] for g in sorted(got, key=lambda g: g.json()["DevEUI_uplink"]["FCntUp"])
    )
    assert got[0].path == "/uplink" and "authorization" not in got[0].headers
    assert got[0].headers["x-thing"] == "t"
    assert (first["FCntUp"], second["FCntUp"]) == (7, 8)
    assert first["DevEUI"] == "0018B20000000B20" and first["FPort"] == 1 and first["payload_hex"] == "0102"
    assert (
        first["downlinkUrl"] == f"{sink.url}/iot-flow/downlinkMessages/4f0c6c1a-2b3d-4e5f-8091-a2b3c4d5e6f7"
    )
    for field in (
        "Time",
        "Lrrid",
        "LrrRSSI",
        "LrrSNR",
        "SpFact",
        "SubBand",
        "Channel",
        "Lrcid",
        "CustomerID",
        "CustomerData",
        "DevAddr",
        "FCntDn",
    ):
        assert field in first, field


def test_to_without_emulator_leaves_out_downlink_url(tmp_path: Path) -> None:
    with Sink() as app:
        r = run_cli(
            ["send-uplink", "--deveui", "0018B20000000B20", "--payload-hex", "01", "--to", app.url],
            env={"IOTCLI_SERVER": "http://127.0.0.1:1", "IOTCLI_TOKEN": TOKEN},
        )
        assert r.exit_code == 0, r.stderr
        assert "downlinkUrl" not in app.wait_for(1)[0].json()["DevEUI_uplink"]
    assert "no downlinkUrl" in r.stderr and "--connection" in r.stderr


# --- body sources --------------------------------------------------------------------------------


def test_body_from_data_file_and_stdin(sink: Sink, tmp_path: Path) -> None:
    f = tmp_path / "b.json"
    f.write_text('{"from": "file"}')
    assert send(sink, "--device", "d1", "--data", '{"from": "data"}').exit_code == 0
    assert send(sink, "--device", "d1", "--file", str(f)).exit_code == 0
    assert send(sink, "--device", "d1", "-", input='{"from": "stdin"}').exit_code == 0
    assert send(sink, "--device", "d1", "--file", "-", input="not json at all").exit_code == 0
    bodies = [r.body for r in sink.wait_for(4)]
    assert bodies[:3] == [b'{"from": "data"}', b'{"from": "file"}', b'{"from": "stdin"}']
    assert bodies[3] == b"not json at all"  # --file sends as is (the platform decides)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--device", "d1", "temp"], "item 'temp'"),
        (["--device", "d1", "t:=x"], "item 't:=x'"),
        (["--device", "d1", "--data", "{bad"], "--data is not valid JSON"),
        (["--device", "d1", "--data", "{}", "a=1"], "one source only"),
        (["--device", "d1", "--file", "/nonexistent.json"], "--file /nonexistent.json"),
        (["--device", "bad id!", "a=1"], "device id 'bad id!'"),
        (["--url", "ftp://x", "a=1"], "--url 'ftp://x'"),
        (["--url", "http://x", "--device", "d1"], "exclude each other"),
        (["a=1"], "nothing to send to"),
        (["--device", "d1", "-H", "NoColon"], "header 'NoColon'"),
        (["--deveui", "XYZ", "--payload-hex", "01"], "--deveui 'XYZ'"),
        (["--deveui", "0018B20000000B20", "--payload-hex", "0g"], "--payload-hex '0g'"),
        (["--deveui", "0018B20000000B20", "--fport", "300", "--payload-hex", "01"], "--fport 300"),
        (["--deveui", "0018B20000000B20"], "needs --payload-hex"),
        (["--device", "d1", "--to", "http://x"], "--to belongs to a LoRaWAN uplink"),
        (["--device", "d1", "--print", "wget"], "--print 'wget'"),
        (["--device", "d1", "--rate", "2", "--interval", "1"], "exclude each other"),
    ],
)
def test_usage_errors_exit_2(sink: Sink, args: list[str], needle: str) -> None:
    r = send(sink, *args)
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert needle in r.stderr
    assert sink.requests == []


# --- output and exit codes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"), [(200, 0), (201, 0), (204, 0), (302, 1), (400, 4), (404, 4), (500, 5), (503, 5)]
)
def test_exit_code_per_status_class(status: int, code: int) -> None:
    with Sink(default=Reply(status, {"error": {"message": "nope"}} if status >= 400 else b"")) as s:
        r = send(s, "--device", "d1", "a=1")
    assert r.exit_code == code, r.stderr
    assert str(status) in r.stderr
    if status >= 400:
        assert json.loads(r.stdout) == {"error": {"message": "nope"}}  # the answer is shown, not hidden


def test_network_error_exits_6() -> None:
    r = run_cli(["send-uplink", "--url", "http://127.0.0.1:1/x", "a=1"])
    assert r.exit_code == 6 and "connection refused" in r.stderr


def test_timeout_exits_6() -> None:
    with Sink(default=Reply(200, delay=0.5)) as s:
        r = send(s, "--url", s.url, "--timeout", "0.1", "a=1")
    assert r.exit_code == 6 and "no answer" in r.stderr


def test_verbose_shows_headers_with_the_token_masked(sink: Sink) -> None:
    sink.default = Reply(200, {"ok": 1}, headers={"X-Answer": "yes"})
    r = send(sink, "--device", "d1", "a=1", "-v")
    assert r.exit_code == 0
    assert "> POST " in r.stderr and "> Authorization: Bearer *****" in r.stderr
    assert "< X-Answer: yes" in r.stderr
    assert TOKEN not in r.stderr + r.stdout


def test_json_record(sink: Sink) -> None:
    sink.default = Reply(200, {"led": False})
    r = send(sink, "--device", "d1", "a:=1", "--json")
    rec = r.json()["data"]
    assert rec["status"] == 200 and rec["ok"] is True and rec["body"] == {"led": False}
    assert rec["latency_ms"] >= 0 and rec["target"] == "device"
    assert rec["request"]["body"] == {"a": 1}
    assert rec["request"]["headers"]["Authorization"] == "Bearer *****"
    assert TOKEN not in r.stdout
    g = run_cli(
        ["--json", "send-uplink", "--device", "d1", "a=1"],
        env={"IOTCLI_SERVER": sink.url, "IOTCLI_TOKEN": TOKEN},
    )
    assert g.json()["data"]["status"] == 200


def test_the_request_shown_is_the_request_sent(sink: Sink) -> None:
    """Placeholders differ per render: -v and the --json record show the body that went out, not another render."""
    data = '{"n": "{{random:1:1000000}}", "at": "{{now_iso}}"}'
    r = send(sink, "--url", sink.url + "/x", "--data", data, "--json", "-v")
    assert r.exit_code == 0, r.stderr
    assert r.json()["data"]["request"]["body"] == sink.wait_for(1)[0].json()
    r = send(sink, "--url", sink.url + "/x", "--data", data, "-v")
    assert r.exit_code == 0, r.stderr
    shown = [line[2:] for line in r.stderr.splitlines() if line.startswith("> ")]
    body = "\n".join(shown[shown.index("") + 1 :])
    assert json.loads(body) == sink.wait_for(2)[1].json()


def test_dry_run_sends_nothing(sink: Sink) -> None:
    r = send(sink, "--device", "d1", "temp:=21.5", "--dry-run")
    assert r.exit_code == 0
    assert r.stdout.startswith(f"POST {sink.url}/v3/users/local/devices/d1/callback/data")
    assert "Authorization: Bearer *****" in r.stdout and '"temp": 21.5' in r.stdout
    assert sink.requests == []


def test_print_curl_runs_and_matches(sink: Sink) -> None:
    import subprocess

    r = send(sink, "--device", "d1", "temp:=21.5", "name=it's", "--print", "curl")
    assert r.exit_code == 0 and sink.requests == []
    subprocess.run(["bash", "-c", r.stdout], check=True, capture_output=True, timeout=20)
    send(sink, "--device", "d1", "temp:=21.5", "name=it's")
    printed, ours = sink.wait_for(2)
    assert printed.path == ours.path and printed.json() == ours.json() == {"temp": 21.5, "name": "it's"}
    assert printed.headers["authorization"] == ours.headers["authorization"]


# --- repeat --------------------------------------------------------------------------------------


def test_repeat_with_templates_and_summary(sink: Sink) -> None:
    r = send(
        sink,
        "--device",
        "d1",
        "--data",
        '{"n": {{i}}, "t": {{random:10:20}}, "ts": {{now}}}',
        "--repeat",
        "20",
        "--concurrency",
        "4",
    )
    assert r.exit_code == 0, r.stderr
    bodies = [g.json() for g in sink.wait_for(20)]
    assert sorted(b["n"] for b in bodies) == list(range(1, 21))
    assert all(10 <= b["t"] <= 20 and b["ts"] > 1_600_000_000_000 for b in bodies)
    assert "sent 20  ok 20  failed 0" in r.stdout
    assert "p50" in r.stdout and "p95" in r.stdout and "p99" in r.stdout


def test_repeat_failures_set_the_exit_code_and_json_summary() -> None:
    with Sink(script=[200, 500, 404, 200], default=200) as s:
        r = send(s, "--url", s.url, "a=1", "--repeat", "6", "--json")
    assert r.exit_code == 5
    data = r.json()["data"]
    assert data["sent"] == 6 and data["ok"] == 4 and data["failed_by_status"] == {"404": 1, "500": 1}
    assert set(data["latency_ms"]) == {"min", "p50", "p95", "p99", "max"}


def test_repeat_with_interval_paces_uplinks(sink: Sink) -> None:
    r = send(sink, "--url", sink.url, "a=1", "--repeat", "3", "--interval", "0.1")
    assert r.exit_code == 0
    got = sink.wait_for(3)
    assert got[2].at - got[0].at >= 0.18
