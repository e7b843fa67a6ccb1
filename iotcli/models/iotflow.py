"""The IoT Flow uplink message (``DevEUI_uplink``), built the same way by the emulator and by ``send-uplink --to URL``.

No typer, no httpx, no starlette: the emulator's LoRaWAN ingress (``/_emulator/lorawan/uplinks``) and
the CLI's application-server uplinks both call ``build_uplink``, so one device gets the same DevAddr,
gateway, CustomerData and DriverCfg whichever way it is sent.

The fields, their order and their nesting follow ThingPark X IoT Flow's examples
(actility/tpx-iot-flow-doc ``docs/Message/Uplink_Message/README.md``: "Decoded message" and "Error while
decoding the message"; ``CustomerData`` with ``loc``/``alr``/``tags``/``name``, ``DriverCfg`` with
``mod``/``app``). Two value typings are documented:

- **number-typed** (``"FPort": 17``, ``"LrrRSSI": -65.0``): the decoded, legacy (``sendMetadata``) and
  decode-error examples of that page, and the real uplink body of actility/thingpark-integrations
  ``1_tpNS-AS/AS_python_example/verify_token_in_uplink.py``. The default.
- **string-typed** (``"FPort": "1"``, ``"LrrRSSI": "-80.000000"``): the page's first ("Original
  message") example, the form of ThingPark's older "JSON untyped" content type. ``string_typed``
  turns a number-typed uplink into that form, field by field as the example types them (counters and
  radio values become strings; ``InstantPER``, ``MeanPER``, ``AckRequested``, ``TxPower``,
  ``NbTrans`` and ``Frequency`` stay numbers, as in the example).
"""

from __future__ import annotations

import hashlib
from typing import Any

#: The account's customer id in generated messages [chosen].
CUSTOMER_ID = "100000507"
#: EU868 channels LC1..LC8 and their frequencies (MHz).
CHANNELS = [868.1, 868.3, 868.5, 867.1, 867.3, 867.5, 867.7, 867.9]
#: The LRC every generated frame goes through [chosen].
LRCID = "00000201"
#: The device's driver, in the form of the examples' ``DriverCfg`` [chosen values].
DRIVER = {"pId": "actility", "mId": "generic", "ver": "1"}

VALUE_TYPES = ("number", "string")
#: Fields the string-typed example writes as strings: integers, and floats with 6 decimals.
STRING_INTS = ("FPort", "FCntUp", "ADRbit", "MType", "FCntDn", "SpFact", "DevLrrCnt", "Late", "Chain")
STRING_FLOATS = ("LrrRSSI", "LrrSNR", "LrrESP", "LrrLAT", "LrrLON")


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()


def devaddr_for(deveui: str) -> str:
    """The DevAddr the network gives ``deveui`` (8 upper-case hex digits; the same everywhere)."""
    return _digest("devaddr", deveui.upper())[:4].hex().upper()


def build_uplink(
    deveui: str,
    fport: int,
    *,
    time: Any,
    fcnt_up: Any,
    fcnt_dn: int,
    payload_hex: str,
    payload: Any = None,
    devaddr: str | None = None,
    frame: int | None = None,
) -> dict[str, Any]:
    """A number-typed ``DevEUI_uplink`` object (without the wrapper) as ThingPark sends it.

    Radio values vary per frame, deterministically: ``frame`` (default ``fcnt_up`` when it is an
    int) picks them. ``time`` and ``fcnt_up`` are put in as given (the CLI passes placeholders).
    """
    deveui = deveui.upper()
    seed = frame if frame is not None else (fcnt_up if isinstance(fcnt_up, int) else 0)
    dev = _digest("device", deveui)
    rf = _digest("frame", deveui, seed)
    channel = rf[0] % len(CHANNELS)
    rssi = -float(40 + rf[1] % 75)
    snr = round(-10 + (rf[2] % 80) * 0.25, 2)
    esp = round(rssi - max(0.0, -snr) - 0.4, 6)
    lrrid = dev[:4].hex().upper()
    lat = round(48.80 + dev[4] / 2550, 6)
    lon = round(2.25 + dev[5] / 2550, 6)
    uplink: dict[str, Any] = {
        "Time": time,
        "DevEUI": deveui,
        "FPort": fport,
        "FCntUp": fcnt_up,
        "ADRbit": 1,
        "MType": 2,
        "FCntDn": fcnt_dn,
        "payload_hex": payload_hex,
        "mic_hex": rf[3:7].hex(),
        "Lrcid": LRCID,
        "LrrRSSI": rssi,
        "LrrSNR": snr,
        "LrrESP": esp,
        "SpFact": 7 + rf[7] % 6,
        "SubBand": "G1" if channel < 3 else "G0",
        "Channel": f"LC{channel + 1}",
        "DevLrrCnt": 1,
        "Lrrid": lrrid,
        "Late": 0,
        "LrrLAT": lat,
        "LrrLON": lon,
        "Lrrs": {"Lrr": [{"Lrrid": lrrid, "Chain": 0, "LrrRSSI": rssi, "LrrSNR": snr, "LrrESP": esp}]},
        "CustomerID": CUSTOMER_ID,
        "CustomerData": {
            # The administrative location is a pair of strings in the examples.
            "loc": {"lat": f"{round(lat + dev[6] / 25500, 6)}", "lon": f"{round(lon + dev[7] / 25500, 6)}"},
            "alr": {"pro": "LORA/Generic", "ver": "1"},
            "tags": ["iotcli-emulator"],
            "name": f"Device {deveui[-4:]}",
        },
        "ModelCfg": "0",
        "DriverCfg": {"mod": dict(DRIVER), "app": dict(DRIVER)},
        "InstantPER": 0.0,
        "MeanPER": 0.0,
        "DevAddr": devaddr or devaddr_for(deveui),
        "AckRequested": 0,
        "rawMacCommands": "",
        "TxPower": 14.0,
        "NbTrans": 1,
        "Frequency": CHANNELS[channel],
        "DynamicClass": "A",
    }
    if payload is not None:
        # A decoded uplink names its driver as the decoded example does.
        uplink["DriverCfg"]["id"] = f"{DRIVER['pId']}:{DRIVER['mId']}:{DRIVER['ver']}"
        uplink["payload"] = payload
    return uplink


def _as_string(key: str, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if key in STRING_FLOATS:
        return f"{float(value):.6f}"
    if key in STRING_INTS and float(value).is_integer():
        return str(int(value))
    return value


def string_typed(uplink: dict[str, Any]) -> dict[str, Any]:
    """The uplink with the value types of the documentation's string-typed example (a new dict)."""
    out: dict[str, Any] = {}
    for key, value in uplink.items():
        if key == "Lrrs" and isinstance(value, dict) and isinstance(value.get("Lrr"), list):
            out[key] = {
                **value,
                "Lrr": [
                    {k: _as_string(k, v) for k, v in lrr.items()} if isinstance(lrr, dict) else lrr
                    for lrr in value["Lrr"]
                ],
            }
        else:
            out[key] = _as_string(key, value)
    return out
