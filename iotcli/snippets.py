"""Ready-to-use code that sends data to an HTTP device's callback: curl, HTTPie, Python, Arduino, Postman.

Every snippet posts a JSON body with ``Authorization: Bearer <token>`` to
``<server>/v3/users/<user>/devices/<device>/callback/data`` and shows the answer, which carries the
data the platform has for the device (the ``send_property`` value). No typer here: the CLI
(``iotcli device snippet``) and the examples both use these functions.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from iotcli.models.devices import callback_url
from iotcli.models.render import Prepared, curl_command, httpie_command

LANGS = ("curl", "httpie", "python", "arduino", "postman")
TOKEN_PLACEHOLDER = "<DEVICE_TOKEN>"
DEFAULT_BODY: dict[str, Any] = {"temperature": 21.5, "humidity": 48}
POSTMAN_SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"


@dataclass
class DeviceTarget:
    server: str
    user: str
    device: str
    token: str = TOKEN_PLACEHOLDER
    body: Any = field(default_factory=lambda: dict(DEFAULT_BODY))
    #: An https server with a private CA (a local ``iotcli emulate --tls``): the CA file, and its PEM
    #: text for code that embeds it (Arduino). None: the system's CAs.
    ca_file: str | None = None
    ca_pem: str | None = None

    @property
    def url(self) -> str:
        return callback_url(self.server, self.user, self.device)

    @property
    def body_json(self) -> str:
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False)

    def request(self) -> Prepared:
        """The request every snippet sends: the JSON body with the bearer token."""
        headers = [("Authorization", f"Bearer {self.token}"), ("Content-Type", "application/json")]
        return Prepared("POST", self.url, headers, self.body_json.encode("utf-8"))


def render(lang: str, target: DeviceTarget) -> str:
    """The snippet for ``lang`` (one of LANGS) as text; Postman gives the collection JSON."""
    if lang == "curl":
        return curl(target)
    if lang == "httpie":
        return httpie(target)
    if lang == "python":
        return python(target)
    if lang == "arduino":
        return arduino(target)
    if lang == "postman":
        return json.dumps(postman_collection(target), indent=2, ensure_ascii=False) + "\n"
    raise ValueError(f"unknown snippet language {lang!r}")


def curl(t: DeviceTarget) -> str:
    options = [("--cacert", t.ca_file)] if t.ca_file else []
    return (
        f"# Send data to HTTP device '{t.device}'; the answer holds data for the device (may be empty).\n"
        + curl_command(t.request(), options=options)
        + "\n"
    )


def httpie(t: DeviceTarget) -> str:
    options = [("--verify", t.ca_file)] if t.ca_file else []
    return (
        f"# Send data to HTTP device '{t.device}' with HTTPie (https://httpie.io).\n"
        + httpie_command(t.request(), options=options)
        + "\n"
    )


def python(t: DeviceTarget) -> str:
    if t.ca_file:
        # The server's certificate comes from a private CA: trust that CA file (as curl --cacert).
        return (
            _python(t)
            .replace("import os\n", "import os\nimport ssl\n", 1)
            .replace(
                "\n\n\ndef main()",
                f"\n# The server's certificate is signed by this CA (iotcli emulate --tls prints its path).\n"
                f"CA_FILE = {t.ca_file!r}\n\n\ndef main()",
                1,
            )
            .replace(
                "timeout=10)",
                "timeout=10,\n                           verify=ssl.create_default_context(cafile=CA_FILE))",
                1,
            )
        )
    return _python(t)


def _python(t: DeviceTarget) -> str:
    return f'''"""Send data to the HTTP device {t.device!r} and print what the platform answers.

Run:  pip install httpx && python {t.device}.py
The token can also come from the environment: DEVICE_TOKEN=... python {t.device}.py
"""

import os
import sys

import httpx

URL = {t.url!r}
TOKEN = os.environ.get("DEVICE_TOKEN", {t.token!r})


def main() -> int:
    reading = {t.body!r}
    response = httpx.post(URL, json=reading, headers={{"Authorization": f"Bearer {{TOKEN}}"}}, timeout=10)
    print(response.status_code, response.reason_phrase)
    if response.content:
        # The answer is the data the platform has for this device (its send_property), e.g. a command.
        print("answer:", response.text)
    return 0 if response.is_success else 1


if __name__ == "__main__":
    sys.exit(main())
'''


def _c_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid C string literal for this text


def _c_ident(key: str) -> str:
    ident = "".join(ch if ch.isalnum() else "_" for ch in key)
    return ident if ident and not ident[0].isdigit() else f"v_{ident}"


LAN_PLACEHOLDER = "<LAN-IP>"


def is_loopback_host(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("localhost", "::1", "0.0.0.0") or host.startswith("127.")


def lan_url(url: str) -> str:
    """``url`` with its host replaced by the placeholder for this computer's LAN address."""
    parts = urlsplit(url)
    netloc = LAN_PLACEHOLDER + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


def lan_note(t: DeviceTarget) -> str:
    """Why a board cannot reach a loopback URL, and how to run the emulator on the LAN (C++ comment lines)."""
    port = urlsplit(t.url).port or 8100
    return f"""
//
// !! CALLBACK_URL below points at {urlsplit(t.url).hostname}: on the board that is the board itself, so the
// !! request never reaches this computer. Run the emulator on the LAN instead, with a token of your own
// !! (it refuses to listen beyond this machine with a generated one):
// !!   iotcli emulate --host 0.0.0.0 --port {port} --token <a-long-secret>
// !! and use this computer's LAN address (Linux: hostname -I, macOS: ipconfig getifaddr en0,
// !! Windows: ipconfig), e.g. 192.168.1.20:
// !!   CALLBACK_URL = "{lan_url(t.url)}"
// !! or print this sketch with it filled in:
// !!   iotcli --server http://<that address>:{port} --token <a-long-secret> device snippet {t.device} --lang arduino
// !! Keep that port closed to networks you do not trust."""


def arduino(t: DeviceTarget) -> str:
    """An ESP32/ESP8266 sketch: WiFi, HTTPClient, JSON body with readings, bearer header, reads the answer.

    For a loopback server (127.0.0.1, the local emulator) the sketch says that a board cannot reach it
    and how to run the emulator on the LAN."""
    https = urlsplit(t.url).scheme == "https"
    note = lan_note(t) if is_loopback_host(t.url) else ""
    readings: list[str] = []
    terms: list[str] = []  # C++ terms joined with +: string literals and String(variable)
    if isinstance(t.body, dict) and t.body:
        literal = ""
        for idx, (key, value) in enumerate(t.body.items()):
            literal += ("{" if idx == 0 else ",") + json.dumps(key, ensure_ascii=False) + ":"
            if isinstance(value, int | float) and not isinstance(value, bool):
                name = _c_ident(key)
                ctype = "float" if isinstance(value, float) else "long"
                readings.append(f"  {ctype} {name} = {value};  // replace with your sensor reading")
                terms += [_c_string(literal), f"String({name})"]
                literal = ""
            else:
                literal += json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        terms.append(_c_string(literal + "}"))
    else:
        terms.append(_c_string(t.body_json))
    body_expr = f"String({terms[0]})" + "".join(f"\n         + {term}" for term in terms[1:])
    client_decl = (
        "  WiFiClientSecure client;\n  client.setInsecure();  // demo only: pin the server certificate in production\n"
        if https
        else "  WiFiClient client;\n"
    )
    ca_const = ""
    if https and t.ca_pem:
        # Trust the private CA (iotcli emulate --tls): its PEM, embedded.
        client_decl = (
            "  WiFiClientSecure client;\n"
            "#if defined(ESP8266)\n"
            "  BearSSL::X509List trust(CA_CERT);\n"
            "  client.setTrustAnchors(&trust);\n"
            "#else\n"
            "  client.setCACert(CA_CERT);\n"
            "#endif\n"
        )
        ca_const = (
            "// The CA that signed the server's certificate (iotcli emulate --tls: its CA file). The board checks\n"
            "// the server's name too: the certificate names the address the emulator binds (--host).\n"
            f'const char* CA_CERT = R"PEM(\n{t.ca_pem.strip()}\n)PEM";\n'
        )
    secure_include = (
        "#if defined(ESP8266)\n#include <WiFiClientSecureBearSSL.h>\n#else\n#include <WiFiClientSecure.h>\n#endif\n"
        if https
        else ""
    )
    readings_block = "\n".join(readings) + "\n" if readings else ""
    return f"""// Send readings to the HTTP device '{t.device}' from an ESP32 or ESP8266 and print the answer.
//
// Run: open in the Arduino IDE (board: ESP32 or ESP8266), set WIFI_SSID and WIFI_PASSWORD, upload,
// and watch the Serial Monitor at 115200 baud. The answer holds data for the device (its
// send_property), e.g. a command to act on.{note}
#if defined(ESP8266)
#include <ESP8266WiFi.h>
#include <ESP8266HTTPClient.h>
#else
#include <WiFi.h>
#include <HTTPClient.h>
#endif
{secure_include}
const char* WIFI_SSID = "<WIFI_SSID>";
const char* WIFI_PASSWORD = "<WIFI_PASSWORD>";
const char* CALLBACK_URL = {_c_string(t.url)};
const char* DEVICE_TOKEN = {_c_string(t.token)};
const unsigned long SEND_EVERY_MS = 60000;
{ca_const}
String buildBody() {{
{readings_block}  return {body_expr};
}}

void sendReading() {{
{client_decl}  HTTPClient http;
  http.begin(client, CALLBACK_URL);
  http.addHeader("Content-Type", "application/json");
  http.addHeader("Authorization", String("Bearer ") + DEVICE_TOKEN);
  String body = buildBody();
  int status = http.POST(body);
  if (status > 0) {{
    String answer = http.getString();
    Serial.printf("HTTP %d\\n", status);
    if (answer.length() > 0) {{
      Serial.println(answer);  // data for the device
    }}
  }} else {{
    Serial.printf("request failed: %s\\n", http.errorToString(status).c_str());
  }}
  http.end();
}}

void setup() {{
  Serial.begin(115200);
  WiFi.mode(WIFI_STA);
  WiFi.begin(WIFI_SSID, WIFI_PASSWORD);
  while (WiFi.status() != WL_CONNECTED) {{
    delay(500);
    Serial.print(".");
  }}
  Serial.println("\\nWiFi connected");
}}

void loop() {{
  if (WiFi.status() == WL_CONNECTED) {{
    sendReading();
  }}
  delay(SEND_EVERY_MS);
}}
"""


def postman_collection(t: DeviceTarget) -> dict[str, Any]:
    """A Postman collection (v2.1): send data, then read the device's answer data without ingesting.

    Variables ``server``, ``user``, ``device`` have defaults in the collection; ``token`` comes from
    the environment (``postman_environment``), so the collection file holds no secret.
    """
    url = {
        "raw": "{{server}}/v3/users/{{user}}/devices/{{device}}/callback/data",
        "host": ["{{server}}"],
        "path": ["v3", "users", "{{user}}", "devices", "{{device}}", "callback", "data"],
    }
    status_test = [
        'pm.test("answered 200", function () {',
        "    pm.response.to.have.status(200);",
        "});",
    ]
    return {
        "info": {
            "_postman_id": str(uuid.uuid5(uuid.NAMESPACE_URL, t.url)),
            "name": f"iotcli HTTP device {t.device}",
            "description": (
                "Send data to an HTTP device's callback URL with a bearer token (Thinger.io-style). "
                "Use it with the environment that holds server, user, device and token. "
                "Run: import both in Postman, or `newman run <collection.json> -e <environment.json>`."
                + (
                    f" The server's certificate is signed by a private CA: in Postman, Settings > Certificates > "
                    f"CA certificates: select {t.ca_file} (newman: --ssl-extra-ca-certs {t.ca_file})."
                    if t.ca_file
                    else ""
                )
            ),
            "schema": POSTMAN_SCHEMA,
        },
        "auth": {"type": "bearer", "bearer": [{"key": "token", "value": "{{token}}", "type": "string"}]},
        "item": [
            {
                "name": "Send data",
                "event": [{"listen": "test", "script": {"type": "text/javascript", "exec": status_test}}],
                "request": {
                    "method": "POST",
                    "header": [{"key": "Content-Type", "value": "application/json"}],
                    "body": {
                        "mode": "raw",
                        "raw": json.dumps(t.body, indent=2, ensure_ascii=False),
                        "options": {"raw": {"language": "json"}},
                    },
                    "url": url,
                    "description": "The answer carries the data the platform has for the device (may be empty).",
                },
            },
            {
                "name": "Read the data for the device",
                "event": [{"listen": "test", "script": {"type": "text/javascript", "exec": status_test}}],
                "request": {
                    "method": "GET",
                    "header": [],
                    "url": url,
                    "description": "What the device gets back on its next call, without sending data.",
                },
            },
        ],
        "variable": [
            {"key": "server", "value": t.server.rstrip("/")},
            {"key": "user", "value": t.user},
            {"key": "device", "value": t.device},
        ],
    }


def postman_environment(t: DeviceTarget) -> dict[str, Any]:
    """The Postman environment for ``postman_collection``: server, user, device and token."""
    values = [
        {"key": "server", "value": t.server.rstrip("/"), "type": "default", "enabled": True},
        {"key": "user", "value": t.user, "type": "default", "enabled": True},
        {"key": "device", "value": t.device, "type": "default", "enabled": True},
        {"key": "token", "value": t.token, "type": "secret", "enabled": True},
    ]
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, t.url + "#environment")),
        "name": f"iotcli {t.device}",
        "values": values,
        "_postman_variable_scope": "environment",
    }
