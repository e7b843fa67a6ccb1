"""End to end: a real `iotcli emulate`, an application server that answers an uplink with a downlink.

The application server receives the uplink, reads ``downlinkUrl`` from it and POSTs a downlink there
(no token, as a real application server does); the device's next uplink brings ``DevEUI_downlink_Sent``.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from tests.harness import EmulatorProcess

DEVEUI = "0018B20000000B20"


class ApplicationServer:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.downlink_answers: list[httpx.Response] = []
        self.cond = threading.Condition()
        app = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                uplink = body.get("DevEUI_uplink")
                if uplink and uplink["FCntUp"] == 0:
                    threading.Thread(target=app.answer, args=(uplink,), daemon=True).start()
                with app.cond:
                    app.received.append(body)
                    app.cond.notify_all()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/lora"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, uplink: dict[str, Any]) -> None:
        downlink = {"DevEUI_downlink": {"DevEUI": uplink["DevEUI"], "FPort": 2, "payload_hex": "0a0b0c"}}
        answer = httpx.post(uplink["downlinkUrl"], json=downlink, timeout=5)
        with self.cond:
            self.downlink_answers.append(answer)
            self.cond.notify_all()

    def wait(self, check: Any, timeout: float = 10.0) -> None:
        with self.cond:
            assert self.cond.wait_for(check, timeout), f"got {self.received}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_uplink_downlink_round_trip_through_a_real_emulator() -> None:
    app = ApplicationServer()
    try:
        with EmulatorProcess(None, extra=["--time-scale", "0.1"]) as emu, emu.client() as client:
            r = client.post(
                "/iot-flow/v1/connections",
                json={
                    "connectorId": "actility-http-iot",
                    "name": "app server",
                    "configuration": {"destinationURL": app.url, "headers": {"X-Thing": "{DevEUI}"}},
                },
            )
            assert r.status_code == 201
            up = {"DevEUI": DEVEUI, "FPort": 1, "payload_hex": "0102"}
            assert client.post("/_emulator/lorawan/uplinks", json=up).status_code == 202
            app.wait(lambda: app.downlink_answers)
            (answer,) = app.downlink_answers
            assert answer.status_code == 202 and answer.json()["status"] == "queued"
            assert app.received[0]["DevEUI_uplink"]["downlinkUrl"].startswith(
                emu.url + "/iot-flow/downlinkMessages/"
            )
            queued = client.get("/_emulator/lorawan/downlinks", params={"DevEUI": DEVEUI}).json()
            assert [d["status"] for d in queued] == ["queued"]

            assert (
                client.post("/_emulator/lorawan/uplinks", json=up).json()["downlinks"][0]["status"] == "sent"
            )
            app.wait(lambda: any("DevEUI_downlink_Sent" in m for m in app.received))
            sent = next(m["DevEUI_downlink_Sent"] for m in app.received if "DevEUI_downlink_Sent" in m)
            assert sent["DevEUI"] == DEVEUI and sent["FPort"] == 2 and sent["DeliveryStatus"] == 1
            assert sent["FCntUp"] == 1 and sent["FCntDn"] == 1  # the counter for the next downlink
            kinds = [m and next(iter(m)) for m in app.received]
            assert kinds == ["DevEUI_uplink", "DevEUI_uplink", "DevEUI_downlink_Sent"]
    finally:
        app.close()
