"""The LRC downlink tunnel's route: ``POST /thingpark/lrc/rest/downlink?DevEUI&FPort&Payload&...&AS_ID&Time&Token``.

The query is decoded here; the rules (AS_ID, Token, the fields) are ``lrc_tunnel``'s, and the downlink
is queued by the downlink backend, exactly as ``/iot-flow/downlinkMessages/{uuid}`` does.
"""

from __future__ import annotations

from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response

from iotcli.emulator.http import ok
from iotcli.emulator.iotflow.api import iotflow_of
from iotcli.emulator.iotflow.lrc_tunnel import QUERY_SCHEMAS
from iotcli.emulator.routing import RouteTable

routes = RouteTable("iotflow", tag="LRC tunnel")

PATH = "/thingpark/lrc/rest/downlink"


def parse_query(raw: str) -> list[tuple[str, str]]:
    """``k=v&k=v`` decoded, in order (``+`` stays ``+``: the examples send the Time offset as ``%2B``,
    and a plain ``+`` there is still the offset's sign)."""
    pairs = []
    for part in raw.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        pairs.append((unquote(key), unquote(value)))
    return pairs


@routes.post(
    PATH,
    summary="LRC tunnel downlink: query DevEUI, FPort, Payload, ..., AS_ID, Time, Token (SHA-256 of the "
    "query + AS_KEY); queued like a downlinkMessages POST",
    auth=False,
    status=202,
    query={**QUERY_SCHEMAS},
    responses={
        400: "a bad or missing parameter (named)",
        403: "downlinkEnabled is false",
        409: "bad Token, or no connection with that AS_ID as downlinkAsId",
    },
)
async def tunnel_downlink(request: Request) -> Response:
    answer = await iotflow_of(request).downlinks.tunnel(parse_query(request.url.query))
    return ok(answer, status=202)
