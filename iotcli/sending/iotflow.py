"""A LoRaWAN uplink in the IoT Flow format, as a connection delivers it to an application server.

Built by ``iotcli.models.iotflow.build_uplink``, the emulator's own builder, so an application server
sees the same message shape from ``send-uplink --to URL`` as from an emulator connection (number-typed
like the documentation's decoded example by default). ``Time`` and ``FCntUp`` are placeholders so that
every uplink of ``--repeat`` is a new frame.
"""

from __future__ import annotations

from typing import Any

from iotcli.models.iotflow import build_uplink, string_typed
from iotcli.models.lorawan import downlink_url as downlink_url  # <emulator>/iot-flow/downlinkMessages/<uuid>
from iotcli.sending.template import RawJson


def uplink_message(
    deveui: str,
    fport: int,
    *,
    payload_hex: str | None,
    payload: Any = None,
    downlink: str | None = None,
    overrides: dict[str, Any] | None = None,
    value_types: str = "number",
) -> dict[str, Any]:
    """``{"DevEUI_uplink": {...}}`` for one device; ``Time``/``FCntUp`` render per uplink.

    The same builder as the emulator's (``iotcli.models.iotflow``): a device gets the same DevAddr,
    gateway, CustomerData and DriverCfg either way. ``value_types="string"`` gives the documentation's
    string-typed form.
    """
    uplink = build_uplink(
        deveui,
        fport,
        time="{{now_iso}}",
        fcnt_up=RawJson("{{fcnt}}"),
        fcnt_dn=0,
        payload_hex=payload_hex if payload_hex is not None else "",
        payload=payload,
    )
    if value_types == "string":
        uplink = string_typed(uplink)
        # The frame counter renders per uplink: as a JSON string here.
        uplink["FCntUp"] = "{{fcnt}}"
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
