"""Sending test uplinks the way curl or Postman would, but knowing the platforms' formats.

The library behind ``iotcli send-uplink`` (no typer, no rich, no emulator imports):

- ``items``: HTTPie-style request items -> JSON body, headers, query;
- ``template``: body placeholders ``{{i}}``, ``{{now}}``, ``{{random}}`` rendered per uplink;
- ``request``: ``RequestPlan`` and the targets (HTTP device, URL, emulator LoRaWAN ingress);
- ``iotflow``: a ``DevEUI_uplink`` message for an application server;
- ``transport``: a keep-alive connection pool (stdlib ``http.client``) or an httpx transport;
- ``runner``: ``run(plan, transport, repeat=, concurrency=, rate=)`` -> ``Summary``;
- ``printers``: the equivalent curl / HTTPie / Python, and masked request displays.
"""
