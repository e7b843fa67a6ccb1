"""SQLite state of the emulator: one writer thread, group commit, WAL, per-domain migrations."""

from iotcli.store.db import Store

__all__ = ["Store"]
