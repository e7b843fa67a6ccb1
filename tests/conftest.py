from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from iotcli.emulator.settings import EmulatorSettings
from tests.harness import TEST_TOKEN, TEST_USER, CliResult, InProcessEmulator, Sink, run_cli


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's config, data dir or IOTCLI_* variables."""
    import os

    for key in list(os.environ):
        if key.startswith("IOTCLI_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("IOTCLI_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("IOTCLI_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
def emulator() -> Iterator[InProcessEmulator]:
    """The emulator in-process, in memory, real-time clock."""
    with InProcessEmulator(EmulatorSettings(data_dir=None, token=TEST_TOKEN, user=TEST_USER)) as emu:
        yield emu


@pytest.fixture
def fast_emulator() -> Iterator[InProcessEmulator]:
    """The emulator in-process with a scaled clock: 1 emulated second = 10 ms."""
    settings = EmulatorSettings(data_dir=None, token=TEST_TOKEN, user=TEST_USER, time_scale=0.01)
    with InProcessEmulator(settings) as emu:
        yield emu


class Cli:
    """``cli("device", "list")``: the CLI against the in-process emulator, token and server preset."""

    def __init__(self, emu: InProcessEmulator) -> None:
        self.emu = emu

    def __call__(self, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> CliResult:
        full_env = {"IOTCLI_SERVER": "http://testserver", "IOTCLI_TOKEN": self.emu.token, **(env or {})}
        return run_cli(args, transport=self.emu.transport, input=input, env=full_env)


@pytest.fixture
def cli(emulator: InProcessEmulator) -> Cli:
    return Cli(emulator)


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink() as s:
        yield s
