"""Which header names carry a secret: one rule for the journal, the inspector, sinks and exports."""

from __future__ import annotations

import pytest

from iotcli.delivery import outbox
from iotcli.models.headers import is_secret_header


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "proxy-authorization",
        "X-API-Key",
        "Api-Key",
        "Cookie",
        "X-Auth-Token",
        "X-Token",
        "X-Signature",
        "X-Client-Secret",
        "X-Password",
        "Session-Id",
        "Set-Cookie",
    ],
)
def test_secret_header_names(name: str) -> None:
    assert is_secret_header(name)
    assert is_secret_header(name.upper())


@pytest.mark.parametrize("name", ["Content-Type", "X-Plain", "Accept", "User-Agent", "X-Request-Id", ""])
def test_plain_header_names(name: str) -> None:
    assert not is_secret_header(name)


def test_the_delivery_layer_uses_the_same_rule() -> None:
    assert outbox.is_secret_header is is_secret_header
    assert outbox.mask_headers({"X-Token": "abc", "Authorization": "Bearer t", "X-Plain": "v"}) == {
        "X-Token": "*****",
        "Authorization": "Bearer *****",
        "X-Plain": "v",
    }
