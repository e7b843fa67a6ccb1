"""Sending test uplinks the way curl or Postman would, but knowing the platforms' formats.

The library behind ``iotcli send-uplink`` (no typer, no rich, no emulator imports):

- ``items``: HTTPie-style request items -> JSON body, headers, query;
- ``template``: body placeholders ``{{i}}``, ``{{now}}``, ``{{random}}`` rendered per uplink;
- ``request``: ``RequestPlan`` and the targets (HTTP device, URL, emulator LoRaWAN ingress);
- ``iotflow``: a ``DevEUI_uplink`` message for an application server;
- ``transport``: a keep-alive connection pool (stdlib ``http.client``) or an httpx transport;
- ``outcome``: ``send_one(request, transport)`` -> ``Result`` (one uplink; all a single send needs);
- ``runner``: ``run(plan, transport, repeat=, concurrency=, rate=)`` -> ``Summary``;
- ``printers``: the equivalent curl / HTTPie / Python, and masked request displays.

Start-up is part of a single send's cost (issue 17: one ``send-uplink`` in 100 ms), so the classes a
single send creates are plain classes, not dataclasses: ``@dataclass`` generates and compiles its
``__init__``, ``__repr__`` and ``__eq__`` at import, 0.2-0.7 ms per class.
"""
