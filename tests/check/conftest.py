"""One real emulator (iotcli.testing.Emulator: uvicorn in a thread, in-memory) for the runner tests, reset per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from iotcli.testing import Emulator


@pytest.fixture(scope="module")
def _server() -> Iterator[Emulator]:
    with Emulator() as emu:
        yield emu


@pytest.fixture
def emu(_server: Emulator) -> Iterator[Emulator]:
    _server.reset()
    yield _server
