"""Forwarding uplinks to destinationURL: each configuration flag's effect, strictMode, reconnects, expiry."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from iotcli.emulator.settings import EmulatorSettings
from tests.emulator.iotflow_support import (
    DEVEUI,
    connect,
    deliveries,
    delivery,
    downlink_path,
    events,
    state,
    uplink,
)
from tests.harness import TEST_TOKEN, InProcessEmulator, Reply, Sink, free_port

TIAK = "bec499c69e9c939e413b663961636c61"


# -- what the destination receives -------------------------------------------------------------


def test_default_body_headers_and_downlink_url(emulator: InProcessEmulator, sink: Sink) -> None:
    headers = {
        "Authorization": "Bearer eg89a53sx!=",
        "X-Thing": "{DevEUI}",
        "X-Site": "BuildingA",
        "X-Name": "{$.DevEUI_uplink.CustomerData.name}",
        "X-Fallback": "{CustomerData.nothing|'None'}",
    }
    cid = connect(emulator, sink.url + "/hook?x=1", headers=headers)
    uplink(emulator, payload_hex="abcd", fport=5)
    (req,) = sink.wait_for(1)
    assert req.method == "POST" and req.path == "/hook?x=1"
    assert req.headers["content-type"] == "application/json"
    assert req.headers["authorization"] == "Bearer eg89a53sx!=" and req.headers["x-site"] == "BuildingA"
    assert req.headers["x-thing"] == DEVEUI and req.headers["x-fallback"] == "None"
    body = req.json()
    assert list(body) == ["DevEUI_uplink"]
    inner = body["DevEUI_uplink"]
    assert req.headers["x-name"] == inner["CustomerData"]["name"]
    assert inner["downlinkUrl"] == "http://127.0.0.1:8100" + downlink_path(cid)
    assert inner["FPort"] == 5 and inner["payload_hex"] == "abcd"
    emulator.wait_idle()
    (row,) = deliveries(emulator, connection=cid)
    assert row["status"] == "delivered" and row["kind"] == "uplink"
    log = delivery(emulator, row["id"])["attempt_log"]
    assert log[0]["status"] == 200 and log[0]["headers"]["Authorization"] == "Bearer *****"
    assert events(emulator, "delivery.delivered")[0]["connection"] == cid


def test_downlink_url_uses_the_public_base_url(sink: Sink) -> None:
    settings = EmulatorSettings(token=TEST_TOKEN, public_url="https://emu.example.com/")
    with InProcessEmulator(settings) as emu:
        cid = connect(emu, sink.url)
        uplink(emu)
        inner = sink.wait_for(1)[0].json()["DevEUI_uplink"]
        assert inner["downlinkUrl"] == "https://emu.example.com" + downlink_path(cid)


def test_send_metadata_drops_the_wrapper(emulator: InProcessEmulator, sink: Sink) -> None:
    connect(emulator, sink.url, sendMetadata=True)
    uplink(emulator, payload={"temperature": 21.5})
    body = sink.wait_for(1)[0].json()
    assert "DevEUI_uplink" not in body
    assert body["DevEUI"] == DEVEUI and body["payload"] == {"temperature": 21.5} and "downlinkUrl" in body


def test_send_raw_decoded_format_sends_only_the_payload(emulator: InProcessEmulator, sink: Sink) -> None:
    connect(emulator, sink.url, sendRawDecodedFormat=True)
    uplink(emulator, payload={"temperature": 21.5, "moving": False})
    uplink(emulator)  # no decoded payload: the usual body
    first, second = sink.wait_for(2)
    assert first.json() == {"temperature": 21.5, "moving": False}
    assert "DevEUI_uplink" in second.json()


def test_header_content_type_can_be_overridden(emulator: InProcessEmulator, sink: Sink) -> None:
    connect(emulator, sink.url, headers={"content-type": "application/vnd.iot+json"})
    uplink(emulator)
    assert sink.wait_for(1)[0].headers["content-type"] == "application/vnd.iot+json"


def test_lrc_compliance_query_and_token(emulator: InProcessEmulator, sink: Sink) -> None:
    connect(emulator, sink.url + "/lrc", lrcCompliance=True, tiak=TIAK, downlinkAsId="my-as")
    uplink(emulator, payload_hex="3E8D2190", fport=1)
    (req,) = sink.wait_for(1)
    split = urlsplit(req.path)
    params = parse_qsl(split.query)
    assert [k for k, _ in params] == ["LrnDevEui", "LrnFPort", "LrnInfos", "AS_ID", "Time", "Token"]
    q = dict(params)
    inner = req.json()["DevEUI_uplink"]
    assert q["LrnDevEui"] == DEVEUI and q["LrnFPort"] == "1" and q["AS_ID"] == "my-as"
    assert q["Time"] == inner["Time"]  # '+' arrives intact (sent as %2B)
    query = "&".join(f"{k}={v}" for k, v in params[:5])
    material = f"{inner['CustomerID']}{DEVEUI}1{inner['FCntUp']}3e8d2190{query}{TIAK}"
    assert q["Token"] == hashlib.sha256(material.encode()).hexdigest()


class RecordingProxy:
    """A tiny forward HTTP proxy on 127.0.0.1 that records Proxy-Authorization and forwards."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                proxy.seen.append((self.path, self.headers.get("Proxy-Authorization")))
                length = int(self.headers.get("content-length") or 0)
                data = self.rfile.read(length)
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower()
                    not in {"proxy-authorization", "host", "content-length", "connection", "proxy-connection"}
                }
                answer = httpx.post(self.path, content=data, headers=headers, timeout=5)
                self.send_response(answer.status_code)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy() -> Iterator[RecordingProxy]:
    p = RecordingProxy()
    yield p
    p.close()


def test_proxy_with_credentials(emulator: InProcessEmulator, sink: Sink, proxy: RecordingProxy) -> None:
    import base64

    cid = connect(
        emulator, sink.url + "/via", proxy={"hostname": proxy.url, "username": "bob", "password": "s3cr:t"}
    )
    uplink(emulator)
    (req,) = sink.wait_for(1)
    assert req.path == "/via" and "DevEUI_uplink" in req.json()
    (seen,) = proxy.seen
    assert seen[0] == sink.url + "/via"
    assert seen[1] == "Basic " + base64.b64encode(b"bob:s3cr:t").decode()
    emulator.wait_idle()
    shown = delivery(emulator, deliveries(emulator, connection=cid)[0]["id"])
    assert "s3cr" not in str(shown)


# -- strictMode ----------------------------------------------------------------------------------


def test_non_strict_non_2xx_is_dropped_after_one_attempt(fast_emulator: InProcessEmulator) -> None:
    with Sink(default=500) as sink:
        cid = connect(fast_emulator, sink.url)
        uplink(fast_emulator)
        sink.wait_for(1)
        fast_emulator.wait_idle()
        fast_emulator.advance(10)  # 10 emulated seconds: no resend comes
        fast_emulator.wait_idle()
        assert len(sink.requests) == 1
        (row,) = deliveries(fast_emulator, connection=cid)
        assert row["status"] == "dropped" and row["attempts"] == 1 and "500" in row["reason"]
        assert state(fast_emulator, cid) == "OPENED"
        assert events(fast_emulator, "delivery.dropped")[0]["http_status"] == 500


def test_strict_resends_three_times_two_seconds_apart_then_fails(fast_emulator: InProcessEmulator) -> None:
    with Sink(default=503) as sink:
        cid = connect(fast_emulator, sink.url, strictMode=True)
        uplink(fast_emulator)
        reqs = sink.wait_for(4)
        fast_emulator.wait_idle()
        fast_emulator.advance(10)  # 10 emulated seconds: no fifth attempt comes
        fast_emulator.wait_idle()
        assert len(sink.requests) == 4  # 1 + 3 resends, no more
        gaps = [b.at - a.at for a, b in zip(reqs, reqs[1:], strict=False)]
        assert all(g >= 0.019 for g in gaps), gaps  # 2 s at time scale 0.01 = 20 ms
        (row,) = deliveries(fast_emulator, connection=cid)
        assert row["status"] == "failed" and row["attempts"] == 4
        log = delivery(fast_emulator, row["id"])["attempt_log"]
        ts = [a["ts"] for a in log]
        spacing = [b - a for a, b in zip(ts, ts[1:], strict=False)]
        # Emulator milliseconds; at time scale 0.01 every real millisecond of scheduling jitter adds 100.
        assert all(2000 <= s < 10000 for s in spacing), spacing
        assert [a["status"] for a in log] == [503] * 4
        # A failed delivery is kept and can be replayed.
        sink.default = Reply(200)
        r = fast_emulator.http.post(f"/_emulator/deliveries/{row['id']}/replay")
        assert r.status_code == 200
        sink.wait_for(5)
        fast_emulator.wait_idle()
        assert delivery(fast_emulator, row["id"])["status"] == "delivered"


def test_strict_resend_is_scheduled_exactly_two_seconds_later(emulator: InProcessEmulator) -> None:
    with Sink(default=500) as sink:
        cid = connect(emulator, sink.url, strictMode=True)
        uplink(emulator)
        sink.wait_for(1)
        emulator.wait_idle()  # the resend is not due yet (real-time clock)
        (row,) = deliveries(emulator, connection=cid)
        shown = delivery(emulator, row["id"])
        assert shown["status"] == "pending" and shown["attempts"] == 1
        wait = shown["next_attempt"] - shown["attempt_log"][0]["ts"]
        assert 1900 <= wait <= 2000, wait
        assert "strictMode resend 1 of 3" in shown["reason"]
        assert events(emulator, "delivery.retry")[0]["http_status"] == 500


def test_strict_succeeds_on_a_resend(fast_emulator: InProcessEmulator) -> None:
    with Sink([500, 502], default=200) as sink:
        cid = connect(fast_emulator, sink.url, strictMode=True)
        uplink(fast_emulator)
        reqs = sink.wait_for(3)
        fast_emulator.wait_idle()
        assert reqs[0].body == reqs[2].body  # the same message each time
        (row,) = deliveries(fast_emulator, connection=cid)
        assert row["status"] == "delivered" and row["attempts"] == 3


# -- unreachable, reconnects ---------------------------------------------------------------------


def test_unreachable_closes_then_reconnects_and_delivers_in_order(fast_emulator: InProcessEmulator) -> None:
    port = free_port()
    cid = connect(fast_emulator, f"http://127.0.0.1:{port}/up")
    uplink(fast_emulator)
    deadline = time.monotonic() + 5
    while state(fast_emulator, cid) != "CLOSED" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert state(fast_emulator, cid) == "CLOSED"
    for _ in range(9):
        uplink(fast_emulator)
    fast_emulator.wait_idle()
    rows = deliveries(fast_emulator, connection=cid, status="pending")
    assert len(rows) == 10
    with Sink(port=port) as sink:
        fast_emulator.advance(300)  # NORMAL: the first reconnect is 5 min after closing
        reqs = sink.wait_for(10)
        fast_emulator.wait_idle()
        assert [r.json()["DevEUI_uplink"]["FCntUp"] for r in reqs] == list(range(10))
        assert state(fast_emulator, cid) == "OPENED"
    changes = [(e["previous"], e["state"]) for e in events(fast_emulator, "connection.state")]
    # Started (the first uplink opened it at once), closed, reopened: each step an event.
    assert changes == [
        ("CLOSED", "OPENING"),
        ("OPENING", "OPENED"),
        ("OPENED", "CLOSED"),
        ("CLOSED", "OPENING"),
        ("OPENING", "OPENED"),
    ]
    assert all(r["status"] == "delivered" for r in deliveries(fast_emulator, connection=cid))


def test_while_closed_one_probe_per_reconnect_slot(fast_emulator: InProcessEmulator) -> None:
    port = free_port()
    cid = connect(fast_emulator, f"http://127.0.0.1:{port}/up", reconnectStrategy="AGGRESSIVE")
    uplink(fast_emulator)
    uplink(fast_emulator)
    fast_emulator.wait_idle()
    fast_emulator.advance(180)  # AGGRESSIVE: every 3 min
    fast_emulator.wait_idle()
    fast_emulator.advance(180)
    fast_emulator.wait_idle()
    rows = {r["id"]: r for r in deliveries(fast_emulator, connection=cid)}
    first, second = sorted(rows, key=int)
    # The oldest message probed each slot (3 attempts); the other waited without being tried.
    assert rows[first]["attempts"] == 3 and rows[second]["attempts"] <= 1
    assert state(fast_emulator, cid) == "CLOSED"


def test_closed_connection_without_waiting_messages_reopens_when_the_destination_is_back(
    fast_emulator: InProcessEmulator,
) -> None:
    port = free_port()
    cid = connect(fast_emulator, f"http://127.0.0.1:{port}/up", uplinkTimeValidity="1m")
    uplink(fast_emulator)
    fast_emulator.wait_idle()
    assert state(fast_emulator, cid) == "CLOSED"
    with Sink(port=port) as sink:
        fast_emulator.advance(300)  # the waiting uplink is too old now: expired, nothing waits any more
        fast_emulator.wait_idle()
        assert deliveries(fast_emulator, connection=cid)[0]["status"] == "expired"
        fast_emulator.advance(300)  # the next reconnect attempt connects without a message
        deadline = time.monotonic() + 5
        while state(fast_emulator, cid) != "OPENED" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert state(fast_emulator, cid) == "OPENED"
        assert sink.requests == []
    opened = [e for e in events(fast_emulator, "connection.state") if e["state"] == "OPENED"]
    assert "reconnected" in opened[-1]["reason"]


def test_timeout_counts_as_unreachable() -> None:
    settings = EmulatorSettings(token=TEST_TOKEN, time_scale=0.01, outbound_timeout=0.2)
    with InProcessEmulator(settings) as emu, Sink(default=Reply(200, delay=1.0)) as slow:
        cid = connect(emu, slow.url)
        uplink(emu)
        slow.wait_for(1)
        emu.wait_idle()
        assert state(emu, cid) == "CLOSED"
        (row,) = deliveries(emu, connection=cid)
        assert row["status"] == "pending" and "unreachable" in row["reason"]


def test_waiting_uplinks_expire_after_24_hours(fast_emulator: InProcessEmulator) -> None:
    cid = connect(fast_emulator, f"http://127.0.0.1:{free_port()}/up", reconnectStrategy="CALM")
    uplink(fast_emulator)
    fast_emulator.wait_idle()
    fast_emulator.advance(40 * 3600)  # CALM gives up after 36 h; the uplink is older than 24 h
    fast_emulator.wait_idle()
    (row,) = deliveries(fast_emulator, connection=cid)
    assert row["status"] == "expired" and "24 h" in row["reason"]
    assert state(fast_emulator, cid) == "CLOSED"


def test_uplink_time_validity_expires_old_uplinks(fast_emulator: InProcessEmulator) -> None:
    port = free_port()
    cid = connect(fast_emulator, f"http://127.0.0.1:{port}/up", uplinkTimeValidity="2m")
    uplink(fast_emulator)
    fast_emulator.wait_idle()
    with Sink(port=port) as sink:
        fast_emulator.advance(300)
        fast_emulator.wait_idle()
        (row,) = deliveries(fast_emulator, connection=cid)
        assert row["status"] == "expired" and "uplinkTimeValidity" in row["reason"]
        assert sink.requests == []
        assert events(fast_emulator, "delivery.expired")[0]["delivery"] == row["id"]


def test_deactivated_connection_forwards_nothing(emulator: InProcessEmulator, sink: Sink) -> None:
    cid = connect(emulator, f"http://127.0.0.1:{free_port()}/up")
    uplink(emulator)
    emulator.wait_idle()
    body = emulator.http.get(f"/iot-flow/v1/connections/{cid}").json()
    body["active"] = False
    body["configuration"]["destinationURL"] = sink.url
    r = emulator.http.put(f"/iot-flow/v1/connections/{cid}", json=body)
    assert r.json()["state"] == "DEACTIVATED"
    (row,) = deliveries(emulator, connection=cid)
    assert row["status"] == "dropped" and "deactivated" in row["reason"]
    assert uplink(emulator)["connections"] == []
    emulator.wait_idle()
    assert sink.requests == []


def test_put_reopens_a_closed_connection_and_sends_the_backlog(
    emulator: InProcessEmulator, sink: Sink
) -> None:
    cid = connect(emulator, f"http://127.0.0.1:{free_port()}/up")
    sent = [uplink(emulator)["FCntUp"]]
    emulator.wait_idle()
    assert state(emulator, cid) == "CLOSED"
    sent += [uplink(emulator)["FCntUp"] for _ in range(7)]  # waiting for the reconnect
    body = emulator.http.get(f"/iot-flow/v1/connections/{cid}").json()
    body["configuration"]["destinationURL"] = sink.url + "/new"
    # A replaced connection restarts: CLOSED, then OPENING and OPENED.
    assert emulator.http.put(f"/iot-flow/v1/connections/{cid}", json=body).json()["state"] == "CLOSED"
    received = sink.wait_for(8)
    assert {r.path for r in received} == {"/new"}
    # The backlog goes out in order, as on a reconnect.
    assert [r.json()["DevEUI_uplink"]["FCntUp"] for r in received] == sent


def test_deleted_connection_drops_its_pending_deliveries(emulator: InProcessEmulator) -> None:
    cid = connect(emulator, f"http://127.0.0.1:{free_port()}/up")
    uplink(emulator)
    emulator.wait_idle()
    assert emulator.http.delete(f"/iot-flow/v1/connections/{cid}").status_code == 204
    (row,) = deliveries(emulator, connection=cid)
    assert row["status"] == "dropped" and row["reason"] == "connection deleted"
