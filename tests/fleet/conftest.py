"""One real emulator process for the fleet tests (starting one costs seconds), wiped before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import EmulatorProcess


@pytest.fixture(scope="package")
def shared_emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(None) as proc:
        yield proc


@pytest.fixture
def emu(shared_emulator: EmulatorProcess) -> EmulatorProcess:
    with shared_emulator.client() as http:
        assert http.post("/_emulator/reset").status_code in (200, 204)
    return shared_emulator
