"""The delivery policy of HTTP connections: uplinks and downlink reports to ``destinationURL``.

- A 2xx answer delivers the message; the connection is (or becomes again) ``OPENED``.
- Another HTTP status: ``strictMode`` false -> ``dropped``; true -> resent 3 more times 2 s apart on
  the emulator clock, then ``failed`` (kept; replayable) [source: the seed's HTTP connector page].
  With ``iotcli emulate --strict-mode reconnect`` a strict connection follows the current upstream
  page instead (actility/tpx-iot-flow-doc docs/Connector/HTTP/README.md, "Strict mode option"): the
  connection is ``CLOSED`` and the reconnect strategy applies; the message waits and is the next
  reconnect attempt.
- No answer (connect error, timeout): the connection goes ``CLOSED`` and the message waits for the
  next reconnect of ``reconnectStrategy``. While CLOSED one message per scheduled attempt probes the
  destination (the oldest); the others wait, in order. When it answers, the backlog is sent one at a
  time, oldest first, then the connection's normal concurrency resumes.
- A message older than 24 h, or than ``uplinkTimeValidity``, is ``expired`` instead of sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from iotcli.delivery.outbox import (
    DELIVERED,
    DROPPED,
    EXPIRED,
    FAILED,
    PENDING,
    AttemptResult,
    Decision,
    Delivery,
    OutboundRequest,
)
from iotcli.emulator.iotflow.connection_model import CLOSED, OPENING, RETENTION, Connection
from iotcli.emulator.iotflow.destination import duration_seconds, proxy_url
from iotcli.emulator.iotflow.jsonbody import compact_json, splice
from iotcli.emulator.iotflow.lrc import encode_query, lrc_params
from iotcli.emulator.iotflow.reconnect_schedule import next_attempt
from iotcli.emulator.iotflow.templates import HeaderRenderError, render_headers
from iotcli.models.iotflow import string_typed
from iotcli.models.lorawan import downlink_url

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator
    from iotcli.emulator.iotflow.connections import ConnectionService

__all__ = ["ForwardingPolicy", "duration_seconds", "proxy_url"]

#: strictMode: resends after the first non-2xx answer, and the delay between them (emulator seconds) [source].
STRICT_RESENDS = 3
STRICT_DELAY = 2.0
#: ``iotcli emulate --strict-mode``: what strictMode does with a non-2xx answer.
STRICT_RESEND, STRICT_RECONNECT = "resend", "reconnect"
#: Deliveries of one OPENED connection in flight at once.
LANE_CONCURRENCY = 32


#: The connection key choosing the forwarded uplink's value types [chosen, emulator only]: "number"
#: (default) or "string" (the documentation's string-typed example; see iotcli/models/iotflow.py).
VALUE_TYPES_KEY = "uplinkValueTypes"

#: AS_ID in the LRC query when the connection has no downlinkAsId [chosen].
DEFAULT_AS_ID = "iotcli-emulator"


class ForwardingPolicy:
    def __init__(self, emu: Emulator, connections: ConnectionService) -> None:
        self.emu = emu
        self.connections = connections
        self._sent_with: dict[int, Connection] = {}

    # -- the worker's protocol ----------------------------------------------------------------
    def lane_limit(self, delivery: Delivery) -> int:
        conn = self.connections.cache.get(delivery.connection or "")
        if conn is None:
            return LANE_CONCURRENCY
        if conn.state == CLOSED or conn.drain_upto:
            return 1
        return LANE_CONCURRENCY

    async def prepare(self, delivery: Delivery) -> OutboundRequest | Decision:
        conn = self.connections.cache.get(delivery.connection or "")
        if conn is None:
            return self._final(delivery, DROPPED, "connection deleted")
        if not conn.active:
            return self._final(delivery, DROPPED, "connection deactivated")
        if delivery.kind != "uplink" and conn.configuration.get("sendMetadata"):
            # Queued before sendMetadata was set: such connections receive only uplinks [source].
            return self._final(delivery, DROPPED, "sendMetadata: downlink reports are filtered")
        if conn.starting:
            await self.connections.open_now(conn, "a message is due")
        now = self.emu.clock.now()
        age = now - delivery.created_at
        if age >= RETENTION:
            return self._final(delivery, EXPIRED, "waited more than 24 h for the destination")
        validity = duration_seconds(conn.configuration.get("uplinkTimeValidity"))
        if validity is not None and delivery.kind == "uplink" and age > validity:
            return self._final(
                delivery,
                EXPIRED,
                f"older than uplinkTimeValidity ({conn.configuration['uplinkTimeValidity']})",
            )
        if conn.state == CLOSED and not conn.starting:
            probe_at = conn.extra.get("next_probe")
            if isinstance(probe_at, float) and now < probe_at:
                # Another message already probed this reconnect slot: wait for the next one, in order.
                wait_until = min(probe_at, delivery.created_at + RETENTION)
                return Decision(
                    PENDING, next_at=wait_until, reason="waiting for a reconnect", count_attempt=False
                )
            nxt = next_attempt(conn.reconnect_strategy, conn.closed_at or now, now)
            conn.extra["next_probe"] = nxt if nxt is not None else delivery.created_at + RETENTION
        self._sent_with[delivery.id] = conn
        try:
            return self.build_request(conn, delivery.message, delivery.kind, delivery.body_json)
        except HeaderRenderError as exc:  # a recorded delivery error, not a silent '?' on the wire
            self._sent_with.pop(delivery.id, None)
            return self._final(delivery, FAILED, str(exc))

    def decide(self, delivery: Delivery, result: AttemptResult) -> Decision:
        conn = self._sent_with.pop(delivery.id, None)
        strict = bool(conn and conn.strict)
        if result.ok:
            return self._outcome(delivery, DELIVERED, f"HTTP {result.status}", result)
        if conn is not None and self._closes(conn, result):
            now = self.emu.clock.now()
            nxt: float | None
            if conn.state == CLOSED and isinstance(conn.extra.get("next_probe"), float):
                nxt = conn.extra["next_probe"]
            else:
                nxt = next_attempt(conn.reconnect_strategy, now, now)
            if nxt is None or nxt >= delivery.created_at + RETENTION:
                nxt = delivery.created_at + RETENTION
            why = (
                f"unreachable ({result.error})"
                if result.unreachable
                else f"HTTP {result.status}; strictMode (--strict-mode reconnect) closed the connection"
            )
            return self._outcome(delivery, PENDING, f"{why}; waiting for a reconnect", result, nxt)
        what = f"HTTP {result.status}" if result.status is not None else (result.error or "no answer")
        if not strict:
            return self._outcome(delivery, DROPPED, f"{what}; strictMode is off, not resent", result)
        resends = 0 if delivery.reason == "replayed" else int(delivery.message.get("resends", 0))
        if resends < STRICT_RESENDS:
            message = {**delivery.message, "resends": resends + 1}
            decision = self._outcome(
                delivery,
                PENDING,
                f"{what}; strictMode resend {resends + 1} of {STRICT_RESENDS}",
                result,
                self.emu.clock.now() + STRICT_DELAY,
            )
            decision.message = message
            return decision
        decision = self._outcome(
            delivery, FAILED, f"{what}; resent {STRICT_RESENDS} times (strictMode)", result
        )
        decision.message = {**delivery.message, "resends": 0}
        return decision

    async def after(self, delivery: Delivery, result: AttemptResult | None, decision: Decision) -> None:
        self._sent_with.pop(delivery.id, None)
        conn = self.connections.cache.get(delivery.connection or "")
        if conn is None:
            return
        if conn.drain_upto and delivery.id >= conn.drain_upto and decision.status != PENDING:
            conn.drain_upto = 0
            self.emu.worker.wake()
        if result is None:
            return
        if self._closes(conn, result):
            if conn.state != CLOSED or conn.starting:
                why = (
                    f"destination unreachable: {result.error}"
                    if result.unreachable
                    else f"destination answered HTTP {result.status} (strictMode, --strict-mode reconnect)"
                )
                await self.connections.set_state(conn, CLOSED, why)
        elif result.status is not None and conn.state in (CLOSED, OPENING):
            await self.connections.open_now(conn, f"destination answered HTTP {result.status}")

    # -- helpers ------------------------------------------------------------------------------
    def _closes(self, conn: Connection, result: AttemptResult) -> bool:
        """Whether this answer closes the connection: no answer, or (strictMode with ``--strict-mode
        reconnect``) a non-2xx one."""
        if result.unreachable:
            return True
        return (
            not result.ok
            and result.status is not None
            and conn.strict
            and self.emu.settings.strict_mode == STRICT_RECONNECT
        )

    def _final(self, delivery: Delivery, status: str, reason: str) -> Decision:
        return self._outcome(delivery, status, reason, None, count=False)

    def _outcome(
        self,
        delivery: Delivery,
        status: str,
        reason: str,
        result: AttemptResult | None,
        next_at: float | None = None,
        count: bool = True,
    ) -> Decision:
        event = "delivery.retry" if status == PENDING else f"delivery.{status}"
        data: dict[str, Any] = {
            "delivery": str(delivery.id),
            "kind": delivery.kind,
            "connection": delivery.connection,
            "device": delivery.device,
            "status": status,
            "attempt": delivery.attempts + (1 if count else 0),
            "reason": reason,
        }
        if result is not None:
            data["http_status"] = result.status
        return Decision(status, next_at=next_at, reason=reason, count_attempt=count, events=[(event, data)])

    def build_request(
        self, conn: Connection, message: dict[str, Any], kind: str, body_json: str | None = None
    ) -> OutboundRequest:
        """The HTTP request for one stored message with the connection's current configuration.

        ``body_json``: ``message["body"]`` as compact JSON, when the ingress has it already.
        """
        cfg = conn.configuration
        wrapper = str(message.get("wrapper", "DevEUI_uplink"))
        stored: dict[str, Any] = message.get("body") or {}
        extra: dict[str, Any] = {}
        if kind == "uplink":
            extra["downlinkUrl"] = downlink_url(self.emu.settings.base_url, conn.uuid)
        string_types = kind == "uplink" and cfg.get(VALUE_TYPES_KEY) == "string"
        inner = {**(string_typed(stored) if string_types else stored), **extra}
        document = {wrapper: inner}
        payload: Any
        text: str | None = None
        metadata = bool(cfg.get("sendMetadata"))
        # The raw decoded format applies "if sendMetadata is set to false" [source: About_connections.md].
        if cfg.get("sendRawDecodedFormat") and not metadata and "payload" in inner:
            payload = inner["payload"]
        else:
            payload = inner if metadata else document
            if body_json is not None and stored and not string_types and not extra.keys() & stored.keys():
                text = splice(body_json, extra)
                if payload is document:
                    text = f"{{{compact_json(wrapper)}:{text}}}"
        headers = {"Content-Type": "application/json"}
        rendered = render_headers(cfg.get("headers") or {}, document, inner)
        if any(k.lower() == "content-type" for k in rendered):
            headers = {}
        headers.update(rendered)
        url = str(cfg["destinationURL"])
        if cfg.get("lrcCompliance") and cfg.get("tiak"):
            params = lrc_params(
                inner, as_id=str(cfg.get("downlinkAsId") or DEFAULT_AS_ID), tiak=str(cfg["tiak"])
            )
            url = url + ("&" if "?" in url else "?") + encode_query(params)
        proxy = proxy_url(cfg["proxy"]) if cfg.get("proxy") else None
        body = (text if text is not None else compact_json(payload)).encode()
        return OutboundRequest("POST", url, headers=headers, body=body, proxy=proxy, lean=True)
