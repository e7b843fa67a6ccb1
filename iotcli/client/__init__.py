"""API client over httpx: typed methods for both surfaces; errors are iotcli errors."""

from iotcli.client.api import ApiClient, make_http_client
from iotcli.client.base import BaseClient

__all__ = ["ApiClient", "BaseClient", "make_http_client"]
