"""The LRC application-server examples run end to end against the emulator and a local sink.

Repository actility/thingpark-integrations, folder 1_tpNS-AS/:
- ``AS_python_example/server.py`` and ``verify_token_in_uplink.py``: the application server checks
  each uplink's ``Token`` (SHA-256 of CustomerID + DevEUI + FPort + FCntUp + payload_hex + the
  ``LrnDevEui..Time`` query + AS_KEY) and its ``AS_ID``;
- ``AS_python_example/send_downlink_with_token.py`` (and ``AS_nodejs_example/send_downlink_with_token.js``,
  ``curl_script_examples/send_downlink.sh``): a downlink through the LRC tunnel
  ``POST /thingpark/lrc/rest/downlink?DevEUI&FPort&Payload[&Confirmed][&FlushDownlinkQueue][&ValidityTime]
  &AS_ID&Time[&CorrelationID]&Token`` with ``Token = sha256(query + AS_KEY)``, then ``:`` and ``+``
  encoded.
The logic below follows those files step by step (rewritten here, not copied).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.emulator.iotflow_support import DEVEUI, connect, uplink
from tests.harness import InProcessEmulator, Sink

TUNNEL = "/thingpark/lrc/rest/downlink"
AS_ID = "TWA_100002167.1111.AS"
AS_KEY = "f3203a20a2e8dfaf6686b621f56d05e3"


def application_server_checks(query: dict[str, str], body: dict[str, Any], as_id: str, as_key: str) -> bool:
    """server.py's verify_ul_frame: the AS_ID, then the Token over body elements + query + AS_KEY."""
    if query["AS_ID"] != as_id:
        return False
    up = body["DevEUI_uplink"]
    query_elements = "&".join(
        f"{k}={query[k]}" for k in ("LrnDevEui", "LrnFPort", "LrnInfos", "AS_ID", "Time")
    )
    body_elements = up["CustomerID"] + up["DevEUI"] + str(up["FPort"]) + str(up["FCntUp"]) + up["payload_hex"]
    return hashlib.sha256((body_elements + query_elements + as_key).encode()).hexdigest() == query["Token"]


def signed_downlink(
    deveui: str,
    fport: int,
    payload: str,
    *,
    as_id: str = AS_ID,
    as_key: str = AS_KEY,
    confirmed: bool = False,
    flush: bool = False,
    validity: str | None = None,
    correlation: str | None = None,
    time: str | None = None,
) -> str:
    """send_downlink_with_token.py: the query string, signed, with ':' and '+' encoded afterwards."""
    query = f"DevEUI={deveui}&FPort={fport}&Payload={payload}"
    if confirmed:
        query += "&Confirmed=1"
    if flush:
        query += "&FlushDownlinkQueue=1"
    if validity:
        query += "&ValidityTime=" + validity
    query += f"&AS_ID={as_id}&Time={time or datetime.now(UTC).astimezone().isoformat()}"
    if correlation:
        query += "&CorrelationID=" + correlation
    query += "&Token=" + hashlib.sha256((query + as_key).encode()).hexdigest()
    return TUNNEL + "?" + query.replace(":", "%3A").replace("+", "%2B")


def lrc_connection(emu: InProcessEmulator, sink: Sink, **config: Any) -> str:
    """An LRC-compliant connection: the AS's key is the tiak (uplink Tokens) and the downlinkAsKey."""
    settings: dict[str, Any] = {
        "lrcCompliance": True,
        "tiak": AS_KEY,
        "downlinkAsId": AS_ID,
        "downlinkAsKey": AS_KEY,
    }
    return connect(emu, sink.url, **{**settings, **config})


def test_as_example_checks_uplinks_and_sends_a_signed_downlink(
    fast_emulator: InProcessEmulator, sink: Sink
) -> None:
    """server.py (uplink Token and AS_ID check) + send_downlink_with_token.py (tunnel downlink), end to end."""
    lrc_connection(fast_emulator, sink)
    uplink(fast_emulator, payload_hex="032ce485")
    first = sink.wait_for(1)[0]
    query = dict(parse_qsl(urlsplit(first.path).query))
    assert application_server_checks(query, first.json(), AS_ID, AS_KEY)
    assert not application_server_checks(query, first.json(), AS_ID, "0" * 32)

    url = signed_downlink(DEVEUI, 2, "0103", confirmed=True, correlation="1234")
    r = fast_emulator.anon("POST", url, headers={"Content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 202, r.text
    assert set(r.json()) == {"id", "status"} and r.json()["status"] == "queued"
    (queued,) = fast_emulator.http.get("/_emulator/lorawan/downlinks").json()
    assert (queued["FPort"], queued["payload_hex"], queued["Confirmed"]) == (2, "0103", True)
    assert queued["source"] == "lrc-tunnel" and queued["CorrelationID"] == "1234"

    up = uplink(fast_emulator, payload_hex="01")
    assert up["downlinks"] == [{"id": r.json()["id"], "status": "sent"}]
    got = sink.wait_for(3)
    sent = next(g for g in got if "DevEUI_downlink_Sent" in g.json())
    report = sent.json()["DevEUI_downlink_Sent"]
    assert report["CorrelationID"] == "1234" and report["FPort"] == 2 and report["DeliveryStatus"] == 1
    # Every uplink the AS received passes its check.
    for g in got:
        if "DevEUI_uplink" in g.json():
            assert application_server_checks(dict(parse_qsl(urlsplit(g.path).query)), g.json(), AS_ID, AS_KEY)


def test_curl_example_form_is_accepted(emulator: InProcessEmulator, sink: Sink) -> None:
    """curl_script_examples/send_downlink.sh: Time already URL-encoded, no optional parameters."""
    lrc_connection(emulator, sink, downlinkAsId="app1.sample.com")
    query = (
        "DevEUI=000000000F1D8693&FPort=1&Payload=00&AS_ID=app1.sample.com&Time=2016-01-11T14:28:00.333+02:00"
    )
    token = hashlib.sha256((query + AS_KEY).encode()).hexdigest()
    encoded = query.replace(":", "%3A").replace("+", "%2B")
    assert emulator.anon("POST", f"{TUNNEL}?{encoded}&Token={token}").status_code == 202


def test_validity_time_and_flush_in_the_tunnel(emulator: InProcessEmulator, sink: Sink) -> None:
    """send_downlink_with_token.py optional parameters: ValidityTime (its ISO example form) and flush."""
    lrc_connection(emulator, sink)
    assert emulator.anon("POST", signed_downlink(DEVEUI, 2, "01")).status_code == 202
    url = signed_downlink(DEVEUI, 2, "02", flush=True, validity="2018-10-17T16:38:46.882+02:00")
    assert emulator.anon("POST", url).status_code == 202
    listed = emulator.http.get("/_emulator/lorawan/downlinks").json()
    assert [d["payload_hex"] for d in listed] == ["02"]  # the first was flushed
    assert uplink(emulator)["downlinks"][0]["status"] == "expired"  # 2018 is past


def test_bad_token_is_409_and_nothing_is_queued(emulator: InProcessEmulator, sink: Sink) -> None:
    """The LRC answers a wrong signature with 409 {code, message} (issue 16, LRC v2 API)."""
    lrc_connection(emulator, sink)
    for url in (
        signed_downlink(DEVEUI, 2, "01", as_key="0" * 32),  # signed with another key
        signed_downlink(DEVEUI, 2, "01")[:-64] + "0" * 64,  # a Token that is not the query's
        signed_downlink(DEVEUI, 2, "01").replace("Payload=01", "Payload=02"),  # tampered after signing
    ):
        r = emulator.anon("POST", url)
        assert r.status_code == 409, r.text
        assert set(r.json()) == {"code", "message"} and "Token" in r.json()["message"]
    assert emulator.http.get("/_emulator/lorawan/downlinks").json() == []


def test_wrong_as_id_is_409(emulator: InProcessEmulator, sink: Sink) -> None:
    """The AS_ID names the connection (its downlinkAsId): one no connection has is refused."""
    lrc_connection(emulator, sink)
    r = emulator.anon("POST", signed_downlink(DEVEUI, 2, "01", as_id="TWA_999.1.AS"))
    assert r.status_code == 409 and "AS_ID" in r.json()["message"]
    assert emulator.http.get("/_emulator/lorawan/downlinks").json() == []


def test_the_key_of_the_matching_connection_verifies(emulator: InProcessEmulator, sink: Sink) -> None:
    """Two connections: the Token is checked with the downlinkAsKey of the one whose downlinkAsId is AS_ID."""
    lrc_connection(emulator, sink, name="other", downlinkAsId="TWA_2.AS", downlinkAsKey="a" * 32)
    mine = lrc_connection(emulator, sink, name="mine")
    assert emulator.anon("POST", signed_downlink(DEVEUI, 2, "01")).status_code == 202
    assert emulator.anon("POST", signed_downlink(DEVEUI, 2, "01", as_id="TWA_2.AS")).status_code == 409
    (row,) = emulator.http.get("/_emulator/lorawan/downlinks").json()
    assert row["connection"] == mine


@pytest.mark.parametrize(
    ("mutate", "status", "named"),
    [
        (lambda u: u.replace("Payload=01&", ""), 400, "Payload"),
        (lambda u: u.replace("FPort=2", "FPort=300"), 400, "FPort"),
        (lambda u: u.replace("DevEUI=" + DEVEUI, "DevEUI=12"), 400, "DevEUI"),
        (lambda u: u.replace("Payload=01", "Payload=zz"), 400, "Payload"),
        (lambda u: u.split("&Token=")[0], 400, "Token"),
    ],
)
def test_bad_tunnel_parameters_are_400_naming_them(
    emulator: InProcessEmulator, sink: Sink, mutate: Any, status: int, named: str
) -> None:
    """Bad input, signed correctly: 400 naming the parameter, nothing queued."""
    lrc_connection(emulator, sink)
    url = mutate(signed_downlink(DEVEUI, 2, "01"))
    if "&Token=" in url:  # re-sign what was changed, so the parameter itself is what is wrong
        base, _, _ = url.partition("&Token=")
        query = base.split("?", 1)[1].replace("%3A", ":").replace("%2B", "+")
        url = base + "&Token=" + hashlib.sha256((query + AS_KEY).encode()).hexdigest()
    r = emulator.anon("POST", url)
    assert r.status_code == status and named in r.json()["message"], r.text
    assert emulator.http.get("/_emulator/lorawan/downlinks").json() == []


def test_downlinks_disabled_is_403(emulator: InProcessEmulator, sink: Sink) -> None:
    lrc_connection(emulator, sink, downlinkEnabled=False)
    assert emulator.anon("POST", signed_downlink(DEVEUI, 2, "01")).status_code == 403


def test_connection_without_as_key_takes_unsigned_downlinks(emulator: InProcessEmulator, sink: Sink) -> None:
    """Downlink_Message/README.md: "Token is mandatory when the Application server authentication has
    been activated"; a connection without a downlinkAsKey has none."""
    connect(emulator, sink.url, downlinkAsId=AS_ID)
    r = emulator.anon("POST", f"{TUNNEL}?DevEUI={DEVEUI}&FPort=3&Payload=0a&AS_ID={AS_ID}")
    assert r.status_code == 202, r.text


def test_a_key_kept_as_a_hash_by_an_earlier_version_says_so(emulator: InProcessEmulator, sink: Sink) -> None:
    """An emulator before issue 16 kept only sha256 of downlinkAsKey: the body's AS_KEY still checks,
    the tunnel (which needs the key) says to set it again."""
    cid = lrc_connection(emulator, sink)
    conn = emulator.emu.services["iotflow"].connections.cache[cid]
    conn.configuration["downlinkAsKey"] = "sha256:" + hashlib.sha256(AS_KEY.encode()).hexdigest()
    r = emulator.anon("POST", signed_downlink(DEVEUI, 2, "01"))
    assert r.status_code == 409 and "set it again" in r.json()["message"]
    body = {
        "DevEUI_downlink": {
            "DevEUI": DEVEUI,
            "FPort": 2,
            "payload_hex": "01",
            "AS_ID": AS_ID,
            "AS_KEY": AS_KEY,
        }
    }
    downlink_url = urlsplit(emulator.http.get(f"/iot-flow/v1/connections/{cid}").json()["downlinkUrl"]).path
    assert emulator.anon("POST", downlink_url, json=body).status_code == 202


def test_the_as_key_is_never_shown(emulator: InProcessEmulator, sink: Sink) -> None:
    """The key is kept to check Tokens, but every answer masks it."""
    cid = lrc_connection(emulator, sink)
    shown = emulator.http.get(f"/iot-flow/v1/connections/{cid}").json()["configuration"]
    assert shown["downlinkAsKey"] == "*****" and AS_KEY not in str(
        emulator.http.get("/iot-flow/v1/connections").text
    )
