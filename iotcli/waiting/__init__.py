"""Waiting for what should happen: conditions over a server's state, woken by the event stream.

A condition reads the state it is about through the API client (``check``) and says which journal
events may change it (``relevant``). ``wait_for`` checks once, then follows the emulator's event
stream (``/_emulator/events?follow=1``) and checks again only when a relevant event arrives, until the
condition holds or the timeout (wall time, or emulator time) passes. Where the journal cannot tell
(a bucket written through the API, an endpoint call delivered) it also checks every ``recheck``
seconds; against a server without the stream it polls.

The library is used without the CLI: ``iotcli wait`` and the pytest plugin call ``wait_for``::

    from iotcli.waiting import SinkRequests, wait_for
    seen = wait_for(api, SinkRequests("app", count=3), timeout=10)

The package: ``conditions`` (what can be waited for) and ``waiter`` (``wait_for`` and its deadline);
every name is importable from ``iotcli.waiting`` itself.
"""

from iotcli.waiting.conditions import (
    BucketRecords,
    Condition,
    Deliveries,
    DeviceConnection,
    Downlinks,
    EventSeen,
    Observation,
    SinkRequests,
    get_field,
    value_matches,
)
from iotcli.waiting.waiter import EMULATOR, MAX_SLICE, RECHECK, WALL, Deadline, wait_for

__all__ = [
    "EMULATOR",
    "MAX_SLICE",
    "RECHECK",
    "WALL",
    "BucketRecords",
    "Condition",
    "Deadline",
    "Deliveries",
    "DeviceConnection",
    "Downlinks",
    "EventSeen",
    "Observation",
    "SinkRequests",
    "get_field",
    "value_matches",
    "wait_for",
]
