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

``LoRaWANDevice`` sends through the emulator's LoRaWAN ingress, ``IotFlowDevice`` straight to an
application server in the IoT Flow format. ``fleet_class(config)`` builds the class ``fleet run`` uses.
"""

from __future__ import annotations

import functools
import itertools
import json
import time
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

from locust import FastHttpUser, task
from locust.exception import RescheduleTask, StopUser
from locust.runners import STATE_CLEANUP, STATE_STOPPED, STATE_STOPPING

from iotcli.fleet.devices import SimDevice
from iotcli.fleet.schedule import Interval
from iotcli.fleet.template import DeviceState, FleetTemplate
from iotcli.models.lorawan import LORAWAN_UPLINKS_PATH, ingress_body

_STOPPING = (STATE_CLEANUP, STATE_STOPPING, STATE_STOPPED)

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


class Pool(Protocol):
    """Who hands out the fleet's devices: ``claim()`` -> an index (None: none left), ``release(index)``.

    In one process a counter does; on a Locust worker the master does (``iotcli.fleet.runner``), so no
    device is played by two workers."""

    def claim(self) -> int | None: ...

    def release(self, index: int) -> None: ...


class _Device(FastHttpUser):
    abstract = True
    # Locust's geventhttpclient-based user: several times the requests/s of HttpUser per process.
    # Certificates are checked (FastHttpUser's default is not to); a device's own connection pool.
    insecure = False
    concurrency = 1
    connection_timeout = 10.0
    network_timeout = 30.0
    #: Each uplink's body (iotcli.fleet.template placeholders).
    payload: ClassVar[str] = DEFAULT_PAYLOAD
    #: The time between two uplinks of one device, with jitter.
    interval: ClassVar[Interval] = Interval(60.0, 0.2)
    #: The first uplink of each device comes anywhere in the first interval (not all at once).
    spread_start: ClassVar[bool] = True
    #: ``--uplinks N``: the fleet stops after N uplinks in all (None: no limit).
    budget: ClassVar[Budget | None] = None
    #: Where device numbers come from (None: a counter of this class, user k plays device k).
    pool: ClassVar[Pool | None] = None
    _assign: ClassVar[Any] = None
    _template: ClassVar[FleetTemplate | None] = None
    _index: int | None = None
    _first_wait: float | None = None

    def wait_time(self) -> float:
        if self._first_wait is not None:
            first, self._first_wait = self._first_wait, None
            return first
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

    def _claim(self, size: int) -> int:
        """This user's device number in [0, size): from the pool, else user k plays device k % size."""
        if not size:
            raise StopUser()
        if self.pool is None:
            return self._next_index() % size
        index = self.pool.claim()
        if index is None or not 0 <= index < size:
            raise StopUser()
        self._index = index
        return index

    def on_stop(self) -> None:
        # A device handed back (the master moves users between workers) is played again by another user.
        if self.pool is not None and self._index is not None:
            self.pool.release(self._index)
            self._index = None

    def _start(self, device: str) -> None:
        self.state = DeviceState(device)
        self.last_answer: Any = None
        if self.spread_start:
            # The first "task" only waits (a Locust wait, which stopping interrupts at once; a sleep
            # in on_start would hold the stop for stop_timeout).
            self._first_wait = self.interval.first_wait(self.state.rng)

    def _take(self) -> None:
        """Before each uplink: the spread-out start first, then the fleet's budget (None: no uplink now)."""
        if self._first_wait is not None:
            raise RescheduleTask()
        runner = self.environment.runner
        if runner is not None and runner.state in _STOPPING:
            # The fleet is stopping: Locust kills the devices it found waiting, and one whose wait ended
            # just then would be killed in the middle of an uplink the server may already have stored.
            raise StopUser()
        if self.budget is not None and not self.budget.take():
            raise StopUser()
        key = id(self.environment)
        STARTED[key] = STARTED.get(key, 0) + 1


#: Uplinks begun, per Locust Environment (``id(env)``): those whose answer never came before the fleet
#: stopped (``stop_timeout`` ran out) are ``started - sent``; the server may have stored them.
STARTED: dict[int, int] = {}


class HttpDevice(_Device):
    """An HTTP device: POSTs its JSON to its own callback URL with its own device token and reads the
    answer (the ``--response-property`` value, commands back) as a device would."""

    abstract = True
    #: The fleet (``iotcli.fleet.devices.load_devices``); user number k plays devices[k % len].
    devices: ClassVar[list[SimDevice]] = []

    def on_start(self) -> None:
        self.device = self.devices[self._claim(len(self.devices))]
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
            if _judged(resp):
                text = resp.text or ""
                try:
                    self.last_answer = json.loads(text) if text.strip() else None
                except ValueError:
                    self.last_answer = text
                resp.success()


class _LoRaWANDevice(_Device):
    """What both LoRaWAN kinds share: a DevEUI each, and the payload of the next uplink."""

    abstract = True
    #: DevEUIs (16 hex digits); user number k plays deveuis[k % len].
    deveuis: ClassVar[list[str]] = []
    fport: ClassVar[int] = 1

    def on_start(self) -> None:
        self.deveui = self.deveuis[self._claim(len(self.deveuis))]
        self._start(self.deveui)

    def _next_payload(self) -> tuple[Any, dict[str, Any]]:
        """Take an uplink from the budget; its context and the template rendered as a JSON object (text
        that is not JSON as ``{"text": ...}``, any other JSON value as ``{"value": ...}``)."""
        self._take()
        ctx = self.state.next_uplink()
        rendered = self._compiled().render(self.state, ctx)
        try:
            payload = json.loads(rendered)
        except ValueError:
            payload = {"text": rendered}
        return ctx, payload if isinstance(payload, dict) else {"value": payload}


class LoRaWANDevice(_LoRaWANDevice):
    """A LoRaWAN device: each uplink goes through the emulator's ``POST /_emulator/lorawan/uplinks``
    (account token), with this device's FCntUp (0, 1, 2, ...) and the template as decoded payload
    (the request of ``iotcli.models.lorawan``: its path and ``ingress_body``)."""

    abstract = True
    #: The account token of the emulator (or the server's) API.
    account_token: ClassVar[str | None] = None

    @task
    def uplink(self) -> None:
        ctx, payload = self._next_payload()
        body = ingress_body(
            self.deveui,
            self.fport,
            None,
            payload,
            [],
            {"FCntUp": ctx.fcnt},
        )
        headers = {"Authorization": f"Bearer {self.account_token}"} if self.account_token else {}
        with self.client.post(
            LORAWAN_UPLINKS_PATH, json=body, headers=headers, name="lorawan", catch_response=True
        ) as resp:
            if _judged(resp):
                resp.success()


class IotFlowDevice(_LoRaWANDevice):
    """A LoRaWAN device whose uplinks go straight to an application server (``to_url``) in the IoT Flow
    format (``{"DevEUI_uplink": {...}}``, the emulator's own builder: the same DevAddr, gateway and radio
    values a connection delivers), with this device's FCntUp and, when set, ``downlink_url`` (the
    emulator's downlinkUrl, so the server can answer with downlinks)."""

    abstract = True
    #: The application server's uplink URL.
    to_url: ClassVar[str] = ""
    #: The downlinkUrl each uplink carries (None: none).
    downlink_url: ClassVar[str | None] = None
    #: Extra headers (an application server's own auth).
    headers: ClassVar[dict[str, str]] = {}

    @task
    def uplink(self) -> None:
        from iotcli.sending.iotflow import build_uplink

        ctx, payload = self._next_payload()
        now = datetime.fromtimestamp(time.time(), UTC).isoformat(timespec="milliseconds")
        message = build_uplink(
            self.deveui,
            self.fport,
            time=now.replace("+00:00", "Z"),
            fcnt_up=ctx.fcnt,
            fcnt_dn=0,
            payload_hex="",
            payload=payload,
        )
        if self.downlink_url:
            message["downlinkUrl"] = self.downlink_url
        headers = {"Content-Type": "application/json", **self.headers}
        with self.client.post(
            self.to_url,
            data=json.dumps({"DevEUI_uplink": message}),
            headers=headers,
            name="iotflow",
            catch_response=True,
        ) as resp:
            if _judged(resp):
                resp.success()


KINDS: dict[str, type[_Device]] = {"http": HttpDevice, "lorawan": LoRaWANDevice, "iotflow": IotFlowDevice}
#: The Locust user class of a fleet run has this name on the master and on every worker.
CLASS_NAME = "FleetDevice"


def fleet_class(config: dict[str, Any], pool: Pool | None = None) -> type[_Device]:
    """The user class of one fleet run, from its JSON-able configuration (what the master sends to the
    workers): ``kind``, ``host``, ``interval``, ``jitter``, ``payload``, ``devices`` (http: dicts of
    device, callback_url, token) or ``deveuis`` (lorawan, iotflow), ``fport``, ``account_token``,
    ``to``, ``downlink_url``, ``headers``, ``ca_pem`` (the CA an https target must chain to)."""
    kind = config["kind"]
    attrs: dict[str, Any] = {
        "abstract": False,
        "host": config["host"],
        "interval": Interval(float(config["interval"]), float(config.get("jitter") or 0.0)),
        "pool": pool,
    }
    if config.get("payload") is not None:
        attrs["payload"] = config["payload"]
    if config.get("ca_pem"):
        attrs["ssl_context_factory"] = functools.partial(_verifying_context, config["ca_pem"])
    if kind == "http":
        attrs["devices"] = [
            SimDevice(d["device"], d["callback_url"], d.get("token")) for d in config["devices"]
        ]
    else:
        attrs.update(deveuis=list(config["deveuis"]), fport=int(config.get("fport", 1)))
        if kind == "lorawan":
            attrs["account_token"] = config.get("account_token")
        else:
            attrs.update(
                to_url=config["to"],
                downlink_url=config.get("downlink_url"),
                headers=dict(config.get("headers") or {}),
            )
    return type(CLASS_NAME, (KINDS[kind],), attrs)


def _verifying_context(ca_pem: str) -> Any:
    """An SSL context that checks the server against ``ca_pem`` only (e.g. a local ``emulate --tls``)."""
    import gevent.ssl

    return gevent.ssl.create_default_context(cadata=ca_pem)


def fleet_size(config: dict[str, Any]) -> int:
    """How many devices the configuration lists."""
    return len(config["devices"] if config["kind"] == "http" else config["deveuis"])


def _judged(resp: Any) -> bool:
    """Record a missing answer or a 4xx/5xx as the request's failure; True when the answer is a success."""
    if not resp.status_code:
        resp.failure(_no_answer(resp.error))
    elif resp.status_code >= 400:
        resp.failure(f"HTTP {resp.status_code}")
    else:
        return True
    return False


def _no_answer(error: object) -> str:
    """The error's kind (ConnectionRefusedError, ReadTimeout, ...), not its text (it holds the URL)."""
    return f"no answer: {type(error).__name__}" if error else "no answer"
