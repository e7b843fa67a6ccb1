"""Token and secret hygiene (issue 11, items 5 and 7): percent-encoded query tokens, masked URLs and
headers in journals and logs, a minimum token length beyond loopback, private data and config dirs."""

from __future__ import annotations

import pytest

from tests.harness import run_cli


def test_a_short_token_is_refused_beyond_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    from iotcli.emulator import server

    served: list[str] = []
    monkeypatch.setattr(server, "bind_socket", lambda host, port: server.__dict__["socket"].socket())
    monkeypatch.setattr(server, "serve", lambda settings, sock, **kw: served.append(settings.host))
    for token in ("x", "fifteen-chars!!"):
        r = run_cli(["emulate", "--host", "0.0.0.0", "--in-memory", "--port", "0", "--token", token])
        assert r.exit_code == 2, r.stderr
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "at least 16 characters" in lines[0], r.stderr
    assert served == []
    r = run_cli(["emulate", "--host", "127.0.0.1", "--in-memory", "--port", "0", "--token", "x"])
    assert r.exit_code == 0, r.stderr  # loopback: the user's own choice
    assert served == ["127.0.0.1"]
