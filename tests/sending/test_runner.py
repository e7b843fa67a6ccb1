from __future__ import annotations

import http.client
import socket
import time
from collections import Counter

from iotcli.errors import ExitCode
from iotcli.sending.request import RequestPlan, base_headers, json_body
from iotcli.sending.runner import exit_code_for, percentile, run, send_one
from iotcli.sending.template import RawJson
from iotcli.sending.transport import PooledTransport
from tests.harness import Reply, Sink


class CountingTransport(PooledTransport):
    def __init__(self) -> None:
        super().__init__(timeout=5)
        self.connections = 0

    def _connect(self, key: tuple[str, str, int]) -> http.client.HTTPConnection:
        self.connections += 1
        return super()._connect(key)


def plan_for(url: str) -> RequestPlan:
    body = json_body({"n": RawJson("{{i}}"), "r": RawJson("{{random}}")})
    return RequestPlan("POST", url, base_headers("tok", body=True), body)


def test_repeat_sends_n_distinct_uplinks_over_one_pool(sink: Sink) -> None:
    transport = CountingTransport()
    summary, _ = run(plan_for(sink.url + "/in"), transport, repeat=40, concurrency=4)
    transport.close()
    assert summary.sent == 40 and summary.ok == 40 and summary.failed == 0
    got = sink.wait_for(40)
    assert sorted(r.json()["n"] for r in got) == list(range(1, 41))
    assert len({r.body for r in got}) == 40
    assert transport.connections <= 4  # keep-alive: one connection per worker, reused


def test_concurrency_overlaps_requests(sink: Sink) -> None:
    sink.default = Reply(200, delay=0.1)
    started = time.perf_counter()
    summary, _ = run(plan_for(sink.url), PooledTransport(), repeat=8, concurrency=8)
    elapsed = time.perf_counter() - started
    assert summary.ok == 8
    assert elapsed < 0.5, elapsed  # 8 x 100 ms one by one would take 0.8 s


def test_rate_spreads_uplinks_in_time(sink: Sink) -> None:
    summary, _ = run(plan_for(sink.url), PooledTransport(), repeat=6, concurrency=3, rate=25)
    got = sink.wait_for(6)
    span = got[-1].at - got[0].at
    assert summary.ok == 6
    assert 0.17 <= span < 0.6, span  # 5 gaps of 40 ms


def test_summary_counts_failures_by_status() -> None:
    with Sink(script=[500, 404, 200, 503, 200], default=200) as s:
        summary, kept = run(plan_for(s.url), PooledTransport(), repeat=5, keep=lambda r: not r.ok)
    data = summary.to_dict()
    assert data["sent"] == 5 and data["ok"] == 2 and data["failed"] == 3
    assert data["failed_by_status"] == {"404": 1, "500": 1, "503": 1}
    assert sorted(r.index for r in kept) == [1, 2, 4]
    assert data["latency_ms"]["p50"] <= data["latency_ms"]["p99"] <= data["latency_ms"]["max"]
    assert summary.exit_code == ExitCode.API_SERVER_ERROR


def test_network_failures_are_counted_not_raised() -> None:
    plan = plan_for("http://127.0.0.1:1/x")
    summary, _ = run(plan, PooledTransport(timeout=2), repeat=3, concurrency=2)
    assert summary.sent == 3 and summary.outcomes == Counter({"network": 3})
    assert summary.exit_code == ExitCode.NETWORK
    result = send_one(plan, PooledTransport(timeout=2))
    assert result.failure is not None and "connection refused" in str(result.failure)


def test_timeout_is_its_own_outcome() -> None:
    with Sink(default=Reply(200, delay=0.5)) as s:
        result = send_one(plan_for(s.url), PooledTransport(timeout=0.1))
    assert result.outcome == "timeout" and result.failure is not None and result.failure.timeout


def test_stale_keepalive_connection_is_retried(sink: Sink) -> None:
    transport = PooledTransport()
    assert send_one(plan_for(sink.url), transport).ok
    for conns in transport._idle.values():  # the server side "closed" the idle connection
        for conn in conns:
            assert conn.sock is not None
            conn.sock.shutdown(socket.SHUT_RDWR)
    assert send_one(plan_for(sink.url), transport).ok


def test_exit_code_rules() -> None:
    assert exit_code_for({"200": 3, "201": 1}) == ExitCode.OK
    assert exit_code_for({"200": 3, "404": 1}) == ExitCode.API_CLIENT_ERROR
    assert exit_code_for({"404": 1, "502": 1}) == ExitCode.API_SERVER_ERROR
    assert exit_code_for({"502": 1, "timeout": 1}) == ExitCode.NETWORK
    assert exit_code_for({"302": 1}) == ExitCode.UNEXPECTED


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50 and percentile(values, 95) == 95 and percentile(values, 99) == 99
    assert percentile([7.0], 99) == 7.0 and percentile([], 50) == 0.0
