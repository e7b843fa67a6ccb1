"""SQLite state of the emulator: one connection driven by the event loop, group commit, WAL, per-domain migrations."""

from iotcli.store.db import Store

__all__ = ["Store"]
