"""The durable outbox: every outbound request of the emulator, its attempts, retries and replays."""

from iotcli.delivery.outbox import (
    AttemptResult,
    Decision,
    Delivery,
    OutboundRequest,
    enqueue,
    mask_headers,
)
from iotcli.delivery.worker import DeliveryPolicy, DeliveryWorker

__all__ = [
    "AttemptResult",
    "Decision",
    "Delivery",
    "DeliveryPolicy",
    "DeliveryWorker",
    "OutboundRequest",
    "enqueue",
    "mask_headers",
]
