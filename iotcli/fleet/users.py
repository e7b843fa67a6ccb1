"""Locust user classes: one simulated device per Locust user.

Importing this module imports Locust (gevent monkey-patches the process): only ``iotcli fleet run`` and
your own locustfiles do. Subclass and set the class attributes, or let ``fleet run`` do it::

    from iotcli.fleet import HttpDevice
    from iotcli.fleet.devices import load_devices
    from iotcli.fleet.schedule import Interval

    class Sensor(HttpDevice):
        host = "http://127.0.0.1:8100"
        devices = load_devices("fleet-devices.json")[1]
        payload = '{"device": "{{device}}", "temperature": {{walk:temperature:18:25}}}'
        interval = Interval(60, 0.2)
"""

from __future__ import annotations

import itertools
import json
from typing import Any, ClassVar

from locust import HttpUser, task
from locust.exception import StopUser

from iotcli.fleet.devices import SimDevice
from iotcli.fleet.schedule import Interval
from iotcli.fleet.template import DeviceState, FleetTemplate

DEFAULT_PAYLOAD = '{"device": "{{device}}", "n": {{counter}}, "temperature": {{walk:temperature:18:25}}}'


class Budget:
    """At most ``total`` uplinks over the whole fleet (``--uplinks N``); greenlets share it."""

    def __init__(self, total: int) -> None:
        self.left = total

    def take(self) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        return True


class _Device(HttpUser):
    abstract = True
    #: Each uplink's body (iotcli.fleet.template placeholders).
    payload: ClassVar[str] = DEFAULT_PAYLOAD
    #: The time between two uplinks of one device, with jitter.
    interval: ClassVar[Interval] = Interval(60.0, 0.2)
    #: The first uplink of each device comes anywhere in the first interval (not all at once).
    spread_start: ClassVar[bool] = True
    #: ``--uplinks N``: the fleet stops after N uplinks in all (None: no limit).
    budget: ClassVar[Budget | None] = None
    _assign: ClassVar[Any] = None
    _template: ClassVar[FleetTemplate | None] = None

    def wait_time(self) -> float:
        return self.interval.next_wait(self.state.rng)

    @classmethod
    def _compiled(cls) -> FleetTemplate:
        if cls._template is None or cls._template.text != cls.payload:
            cls._template = FleetTemplate(cls.payload)
        return cls._template

    @classmethod
    def _next_index(cls) -> int:
        if cls.__dict__.get("_assign") is None:
            cls._assign = itertools.count()
        return int(next(cls._assign))

    def _start(self, device: str) -> None:
        self.state = DeviceState(device)
        self.last_answer: Any = None
        if self.spread_start:
            import gevent

            gevent.sleep(self.interval.first_wait(self.state.rng))

    def _take(self) -> None:
        if self.budget is not None and not self.budget.take():
            raise StopUser()


class HttpDevice(_Device):
    """An HTTP device: POSTs its JSON to its own callback URL with its own device token and reads the
    answer (the ``--response-property`` value, commands back) as a device would."""

    abstract = True
    #: The fleet (``iotcli.fleet.devices.load_devices``); user number k plays devices[k % len].
    devices: ClassVar[list[SimDevice]] = []

    def on_start(self) -> None:
        if not self.devices:
            raise StopUser()
        self.device = self.devices[self._next_index() % len(self.devices)]
        self._start(self.device.device)

    @task
    def uplink(self) -> None:
        self._take()
        body = self._compiled().render(self.state, self.state.next_uplink())
        headers = {"Content-Type": "application/json"}
        if self.device.token:
            headers["Authorization"] = f"Bearer {self.device.token}"
        with self.client.post(
            self.device.callback_url, data=body, headers=headers, name="http-device", catch_response=True
        ) as resp:
            if not resp.status_code:
                resp.failure(_no_answer(resp.error))
            elif resp.status_code >= 400:
                resp.failure(f"HTTP {resp.status_code}")
            else:
                text = resp.text or ""
                try:
                    self.last_answer = json.loads(text) if text.strip() else None
                except ValueError:
                    self.last_answer = text
                resp.success()


class LoRaWANDevice(_Device):
    """A LoRaWAN device: each uplink goes through the emulator's ``POST /_emulator/lorawan/uplinks``
    (account token), with this device's FCntUp (0, 1, 2, ...) and the template as decoded payload."""

    abstract = True
    #: DevEUIs (16 hex digits); user number k plays deveuis[k % len].
    deveuis: ClassVar[list[str]] = []
    fport: ClassVar[int] = 1
    #: The account token of the emulator (or the server's) API.
    account_token: ClassVar[str | None] = None

    def on_start(self) -> None:
        if not self.deveuis:
            raise StopUser()
        self.deveui = self.deveuis[self._next_index() % len(self.deveuis)]
        self._start(self.deveui)

    @task
    def uplink(self) -> None:
        self._take()
        ctx = self.state.next_uplink()
        rendered = self._compiled().render(self.state, ctx)
        try:
            payload = json.loads(rendered)
        except ValueError:
            payload = {"text": rendered}
        body = {
            "DevEUI": self.deveui,
            "FPort": self.fport,
            "payload": payload if isinstance(payload, dict) else {"value": payload},
            "DevEUI_uplink": {"FCntUp": ctx.fcnt},
        }
        headers = {"Authorization": f"Bearer {self.account_token}"} if self.account_token else {}
        with self.client.post(
            "/_emulator/lorawan/uplinks", json=body, headers=headers, name="lorawan", catch_response=True
        ) as resp:
            if not resp.status_code:
                resp.failure(_no_answer(resp.error))
            elif resp.status_code >= 400:
                resp.failure(f"HTTP {resp.status_code}")
            else:
                resp.success()


def deveuis(count: int, first: str = "70B3D57ED0000000") -> list[str]:
    """``count`` consecutive DevEUIs from ``first``."""
    start = int(first, 16)
    return [f"{start + i:016X}" for i in range(count)]


def _no_answer(error: object) -> str:
    """The error's kind (ConnectionRefusedError, ReadTimeout, ...), not its text (it holds the URL)."""
    return f"no answer: {type(error).__name__}" if error else "no answer"
