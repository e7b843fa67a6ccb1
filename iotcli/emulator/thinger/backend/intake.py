"""Callback ingest, the hot path: who may call, what a call stores, what the device gets back.

Auth, device and bucket lookups come from memory caches; everything a call changes (connection
state, bucket record, property, outbox row for the endpoint, token last use, events) is written in one
store job together with the calls that arrived meanwhile (``ingest.py``); the answer goes out after
that commit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from iotcli.emulator.auth import Principal, check_device_scope, token_from
from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.thinger.backend.ingest import Call, IngestWriter, property_value
from iotcli.emulator.thinger.backend.records import record_ts
from iotcli.emulator.thinger.backend.state import BucketInfo, Caches, DeviceInfo, not_found
from iotcli.emulator.thinger.backend.timeouts import ConnectionMonitor

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator


class CallbackIntake:
    """The callback ingest backend (``ThingerBackend.intake``)."""

    def __init__(
        self, emu: Emulator, caches: Caches, writer: IngestWriter, monitor: ConnectionMonitor
    ) -> None:
        self.emu = emu
        self.caches = caches
        self.writer = writer
        self.monitor = monitor

    async def principal(self, request: Request, user: str, device: str) -> Principal:
        """``emu.auth.device_or_account`` for the callback routes, cached by the token as sent."""
        token = token_from(request)
        tokens = self.caches.callback_tokens
        hit = tokens.get(token) if token is not None else None
        if hit is None or (hit[1] is not None and hit[1] <= self.emu.clock.now_ms()):
            principal = await self.emu.auth.device_or_account(request, user, device)
            if token is not None and principal.kind == "device":
                tokens[token] = (principal, principal.expires)
            elif token is not None and principal.token_id is None:
                tokens[token] = (principal, None)  # the account token
            return principal
        principal = hit[0]
        check_device_scope(principal, user, device)
        return principal

    async def authorize(self, request: Request, user: str, device: str) -> tuple[DeviceInfo, Principal]:
        """Step 1 of the contract: token, device, enabled, HTTP. Every refusal lands in the journal."""
        try:
            principal = await self.principal(request, user, device)
            devices = self.caches.devices
            info = devices.cached(user, device) or await devices.get(user, device)
            if info is None:
                raise not_found("device", device)
            if not info.enabled:
                raise ApiProblem(403, f"device '{device}' is disabled")
            if info.type != "HTTP":
                raise ApiProblem(
                    400, f"device '{device}' is a {info.type} device: only HTTP devices take callback data"
                )
        except ApiProblem as problem:
            source = request.client.host if request.client else "?"
            await self.reject(source, user, device, problem.status, problem.message)
            raise
        return info, principal

    async def reject(self, source: str, user: str, device: str, status: int, reason: str) -> None:
        # The reason never carries the token: ApiProblem messages from auth do not include it.
        # Sampled: one event per source and reason per interval, the others counted in the next one.
        suppressed = self.emu.events.rejections.admit((source, user, device, status, reason))
        if suppressed is None:
            return
        extra = {"source": source, "suppressed": suppressed} if suppressed else {"source": source}
        await self.emu.events.record(
            "callback.rejected", user=user, device=device, status=status, reason=reason, **extra
        )

    async def ingest(
        self,
        info: DeviceInfo,
        principal: Principal,
        size: int,
        payload: dict[str, Any],
        text: str,
        query_ms: int | None,
        ip: str | None,
    ) -> tuple[bytes, str | None]:
        """Store in the bucket, set the property, call the endpoint (through the outbox); returns the
        answer (the ``send_property`` value, or empty) and why the record was not stored (None: it was)."""
        emu = self.emu
        now = emu.clock.now_ms()
        notes: list[str] = []
        bucket: BucketInfo | None = None
        when: int | None = None
        bucket_name = info.actions.get("write_bucket")
        if bucket_name:
            buckets = self.caches.buckets
            bucket = buckets.cached(info.user, bucket_name) or await buckets.get(info.user, bucket_name)
            if bucket is None:
                notes.append(f"bucket '{bucket_name}' does not exist: the record was not stored")
            elif not bucket.writable or not bucket.enabled:
                notes.append(
                    f"bucket '{bucket_name}' is disabled or does not take writes: the record was not stored"
                )
                bucket = None
            else:
                when = record_ts(payload, query_ms)  # None: the writer assigns a free time
        call = Call(info, principal, now, ip, size, payload, text, bucket, when, notes)
        outcome = await self.writer.submit(call)

        limit = info.timeout_ms
        self.monitor.touch(info.user, info.device, None if limit is None else (now + limit) / 1000)
        if outcome.delivery is not None:
            emu.worker.hand_off([outcome.delivery])
        emu.events.publish(*outcome.events)
        return outcome.answer, notes[0] if notes else None

    async def not_ingested(self, info: DeviceInfo, size: int, reason: str) -> bytes:
        """A body that is not a JSON object: nothing stored or changed (bucket, property, endpoint,
        connection state) [chosen]; the journal says why; the device still gets its send_property value."""
        await self.emu.events.record(
            "callback.ignored",
            user=info.user,
            device=info.device,
            bytes=size,
            reason=reason + ": nothing stored",
        )
        return await self.answer(info)

    async def answer(self, info: DeviceInfo) -> bytes:
        """The value of the device's ``send_property`` property as JSON, or empty when none is set."""
        send = info.actions.get("send_property")
        if not send:
            return b""
        return await self.emu.store.read(lambda c: property_value(c, info.user, info.device, send))
