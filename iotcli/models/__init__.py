"""The wire rules and shapes that the CLI side (client, sending) and the emulator share.

One place for what both ends of a request must agree on, so that a rule is written once:

- ``ids``: the id rule of paths and names (``^[a-zA-Z0-9_-]{1,32}$``);
- ``lorawan``: DevEUI, FPort and payload hex rules, the emulator's LoRaWAN ingress request and the
  IoT Flow downlink body and URL;
- ``iotflow``: the ``DevEUI_uplink`` message an IoT Flow connection delivers (one builder for the
  emulator and ``send-uplink --to URL``);
- ``render``: one concrete HTTP request (``Prepared``) and its rendering as a curl or HTTPie command.
- ``headers``: which header names carry a secret (masked in the journal, inspector, sinks, exports).

The rules only answer "valid?" or give the normal form; each side words its own error (a usage error
on the command line, a 400 in the emulator). This package imports only the standard library and
``iotcli.errors`` (no httpx, typer, rich or starlette), and its ``__init__`` imports none of its
modules, so that importing one rule stays cheap for the CLI's start-up.
"""
