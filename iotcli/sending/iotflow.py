"""A LoRaWAN uplink in the IoT Flow format, as a connection delivers it to an application server.

The fields follow the reference messages of ThingPark X IoT Flow (``DevEUI_uplink`` with radio
metadata, number-typed like the documentation's decoded example). ``Time`` and ``FCntUp`` are
placeholders so that every uplink of ``--repeat`` is a new frame.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from iotcli.sending.template import RawJson


def downlink_url(server: str, connection: str) -> str:
    """``<emulator>/iot-flow/downlinkMessages/<uuid>``: the connection id in its dashed UUID form."""
    try:
        ident = str(uuid.UUID(connection))
    except ValueError:
        ident = connection
    return f"{server.rstrip('/')}/iot-flow/downlinkMessages/{ident}"


def uplink_message(
    deveui: str,
    fport: int,
    *,
    payload_hex: str | None,
    payload: Any = None,
    downlink: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``{"DevEUI_uplink": {...}}`` for one device; ``Time``/``FCntUp`` render per uplink."""
    digest = hashlib.sha256(deveui.encode()).hexdigest()
    uplink: dict[str, Any] = {
        "Time": "{{now_iso}}",
        "DevEUI": deveui,
        "FPort": fport,
        "FCntUp": RawJson("{{fcnt}}"),
        "ADRbit": 1,
        "MType": 2,
        "FCntDn": 0,
        "payload_hex": payload_hex if payload_hex is not None else "",
        "mic_hex": digest[:8],
        "Lrcid": "00000127",
        "LrrRSSI": -65.0,
        "LrrSNR": 9.5,
        "SpFact": 7,
        "SubBand": "G1",
        "Channel": "LC3",
        "DevLrrCnt": 1,
        "Lrrid": "08050376",
        "Late": 0,
        "LrrLAT": 43.615501,
        "LrrLON": 7.066182,
        "Lrrs": {
            "Lrr": [{"Lrrid": "08050376", "Chain": 0, "LrrRSSI": -65.0, "LrrSNR": 9.5, "LrrESP": -65.461838}]
        },
        "CustomerID": "100002164",
        "CustomerData": {"alr": {"pro": "LORA/Generic", "ver": "1"}, "tags": [], "name": f"Device {deveui}"},
        "ModelCfg": "0",
        "InstantPER": 0.0,
        "MeanPER": 0.0,
        "DevAddr": digest[8:16].upper(),
        "AckRequested": 0,
        "TxPower": 14.0,
        "NbTrans": 1,
        "Frequency": 868.1,
        "DynamicClass": "A",
    }
    if payload is not None:
        uplink["payload"] = payload
    if downlink:
        uplink["downlinkUrl"] = downlink
    if overrides:
        deep_merge(uplink, overrides)
    return {"DevEUI_uplink": uplink}


def deep_merge(target: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            deep_merge(target[key], value)
        else:
            target[key] = value
