#!/usr/bin/env python3
"""A small application server for IoT Flow-style HTTP connections.

It receives LoRaWAN uplinks (``{"DevEUI_uplink": {...}}``) POSTed by a connection, logs one line per
message, and answers each uplink with a downlink POSTed to the uplink's ``downlinkUrl``. It also
logs the ``DevEUI_downlink_Sent`` / ``DevEUI_downlink_Rejected`` reports that come back. Standard
library only: copy it anywhere.

Run (with ``iotcli emulate`` running in another terminal):

    python examples/app_server.py --port 9000 --downlink-hex 01
    iotcli connection create my-app --destination http://127.0.0.1:9000/uplink
    iotcli send-uplink --deveui 0018B20000000B20 --fport 1 --payload-hex 0a0b
    iotcli downlink list          # the app's downlink, queued for the device's next uplink

Options: --port (0 = any free port; the first line printed says which), --downlink-hex HEX
(payload of the answer, default 01), --fport N (downlink FPort, default the uplink's),
--no-downlink (only log), --as-id/--as-key (when the connection sets downlinkAsId/downlinkAsKey).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REPORTS = ("DevEUI_downlink_Sent", "DevEUI_downlink_Rejected")


def log(text: str) -> None:
    print(text, flush=True)


def post_downlink(url: str, downlink: dict[str, Any]) -> None:
    """POST ``{"DevEUI_downlink": ...}`` to the uplink's downlinkUrl and log the answer."""
    data = json.dumps({"DevEUI_downlink": downlink}).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            log(f"downlink {downlink['DevEUI']} -> {answer.status} {answer.read().decode(errors='replace')}")
    except urllib.error.HTTPError as exc:
        log(f"downlink {downlink['DevEUI']} -> {exc.code} {exc.read().decode(errors='replace')}")
    except OSError as exc:
        log(f"downlink {downlink['DevEUI']} failed: {exc}")


def make_handler(options: argparse.Namespace) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            try:
                message = json.loads(raw)
            except ValueError:
                log(f"not JSON: {raw[:200]!r}")
                return
            self.handle_message(message)

        def handle_message(self, message: Any) -> None:
            if not isinstance(message, dict):
                log(f"unexpected message: {message!r}")
                return
            for kind in REPORTS:
                if kind in message:
                    report = message[kind]
                    log(
                        f"{kind} DevEUI={report.get('DevEUI')} FCntDn={report.get('FCntDn')} "
                        f"status={report.get('DeliveryStatus', report.get('DownlinkRejectionCause'))}"
                    )
                    return
            uplink = message.get("DevEUI_uplink", message)  # sendMetadata: no wrapper
            deveui = uplink.get("DevEUI")
            log(
                f"uplink DevEUI={deveui} FCntUp={uplink.get('FCntUp')} FPort={uplink.get('FPort')} "
                f"payload_hex={uplink.get('payload_hex')} payload={json.dumps(uplink.get('payload'))}"
            )
            url = uplink.get("downlinkUrl")
            if options.no_downlink or not deveui:
                return
            if not url:
                log("no downlinkUrl in this uplink: no downlink sent")
                return
            downlink: dict[str, Any] = {
                "DevEUI": deveui,
                "FPort": options.fport or int(uplink.get("FPort") or 1),
                "payload_hex": options.downlink_hex,
            }
            if options.as_id:
                downlink["AS_ID"] = options.as_id
            if options.as_key:
                downlink["AS_KEY"] = options.as_key
            # Answer the connection at once; send the downlink from another thread.
            threading.Thread(target=post_downlink, args=(url, downlink), daemon=True).start()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Receive IoT Flow uplinks, log them, answer with downlinks.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000, help="0 = any free port")
    parser.add_argument("--downlink-hex", default="01", help="payload_hex of each downlink")
    parser.add_argument("--fport", type=int, default=0, help="downlink FPort (default: the uplink's)")
    parser.add_argument("--no-downlink", action="store_true", help="only log uplinks")
    parser.add_argument("--as-id", default=None)
    parser.add_argument("--as-key", default=None)
    options = parser.parse_args(argv)
    server = ThreadingHTTPServer((options.host, options.port), make_handler(options))
    server.daemon_threads = True
    host, port = server.server_address[:2]
    log(f"app server listening on http://{host}:{port}/")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
