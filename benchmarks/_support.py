"""What the benchmarks share (one definition each; the test suite has its own in tests/harness.py).

Benchmarks run as scripts (``python benchmarks/ingest.py``, where this directory is ``sys.path[0]``)
and are imported by tests as ``benchmarks.soak``, so each imports this module both ways.
"""

from __future__ import annotations

import socket


def free_port() -> int:
    """A loopback TCP port that is free right now (the OS picks it; it is released before returning)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
