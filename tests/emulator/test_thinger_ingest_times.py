"""Thinger callback ingest: ``?ts=0`` / empty ts, server-assigned record times that never collide,
and the emulator-only ``X-Iotcli-Not-Stored`` header when a call stores nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from iotcli.emulator.core import EmulatorSettings
from tests.conftest import Cli
from tests.emulator.thinger_helpers import (
    V3,
    U,
    create_bucket,
    create_device,
    error,
    events,
    post_data,
    records,
    set_callback,
)
from tests.harness import TEST_TOKEN, TEST_USER, InProcessEmulator

NOT_STORED = "X-Iotcli-Not-Stored"


@pytest.fixture
def frozen() -> Iterator[InProcessEmulator]:
    """A clock that all but stands still (1 emulated second = 10^6 real seconds): every call of a test
    arrives in the same emulated millisecond."""
    settings = EmulatorSettings(data_dir=None, token=TEST_TOKEN, user=TEST_USER, time_scale=1e6)
    with InProcessEmulator(settings) as emu:
        yield emu


def setup(emu: InProcessEmulator, **actions: str) -> None:
    create_device(emu, "d1")
    create_bucket(emu, "b1")
    set_callback(emu, write_bucket="b1", **actions)


def now_ms(emu: InProcessEmulator) -> int:
    return int(emu.http.get("/_emulator/clock").json()["now_ms"])


def test_ts_zero_and_empty_mean_now(frozen: InProcessEmulator) -> None:
    setup(frozen)
    now = now_ms(frozen)
    for ts in ("0", ""):
        r = post_data(frozen, {"t": 1}, params={"ts": ts, "ip": "10.0.0.7"})
        assert r.status_code == 200 and NOT_STORED not in r.headers
    got = records(frozen, sort="asc")
    assert [g["ts"] for g in got] == [now, now + 1]
    assert frozen.http.get(f"{U}/devices/d1/stats").json()["ip_address"] == "10.0.0.7"
    # The bucket write route takes ?ts=0 the same way.
    r = frozen.http.post(f"{U}/buckets/b1/data", json={"t": 2}, params={"ts": "0"})
    assert r.status_code == 200 and r.json() == {"ts": now + 2, "val": {"t": 2}}
    for bad in ("-1", "soon", "1e12"):
        r = post_data(frozen, {"t": 3}, params={"ts": bad})
        assert r.status_code == 400 and "ts" in error(r)
    assert len(records(frozen)) == 3  # a refused call stored nothing


def test_concurrent_calls_in_one_millisecond_are_all_stored_at_increasing_times(
    frozen: InProcessEmulator,
) -> None:
    setup(frozen)
    now = now_ms(frozen)

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=frozen.app)
        headers = {"Authorization": f"Bearer {frozen.token}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers) as client:
            url = f"{V3}/devices/d1/callback/data"
            answers = await asyncio.gather(*(client.post(url, json={"n": i}) for i in range(300)))
        return [a.status_code for a in answers]

    assert frozen.run(burst()) == [200] * 300
    got = frozen.http.get(f"{U}/buckets/b1/data", params={"items": "1000", "sort": "asc"}).json()
    assert len(got) == 300
    times = [g["ts"] for g in got]
    assert times == list(range(now, now + 300))  # strictly increasing, from now on
    assert sorted(g["val"]["n"] for g in got) == list(range(300))


def test_server_times_skip_explicit_records_and_explicit_ts_still_replaces(frozen: InProcessEmulator) -> None:
    setup(frozen)
    now = now_ms(frozen)
    assert post_data(frozen, {"ts": now + 1, "who": "explicit"}).status_code == 200
    for i in range(3):
        post_data(frozen, {"n": i})
    got = records(frozen, sort="asc")
    assert [(g["ts"], g["val"]) for g in got] == [
        (now, {"n": 0}),
        (now + 1, {"who": "explicit"}),
        (now + 2, {"n": 1}),
        (now + 3, {"n": 2}),
    ]
    # An explicit ts replaces whatever holds that time, as on the real platform.
    post_data(frozen, {"n": 9}, params={"ts": str(now + 2)})
    assert [g["val"] for g in records(frozen, sort="asc")][2] == {"n": 9}
    assert len(records(frozen)) == 4


def test_send_uplink_repeat_with_concurrency_keeps_every_reading(
    emulator: InProcessEmulator, cli: Cli
) -> None:
    """The README recipe: 500 readings without a ts, 8 at a time: 500 records."""
    setup(emulator)
    r = cli(
        "send-uplink", "--device", "d1", "--data", '{"n": {{i}}}', "--repeat", "500", "--concurrency", "8"
    )
    assert r.exit_code == 0, r.stderr
    got = emulator.http.get(f"{U}/buckets/b1/data", params={"items": "1000", "sort": "asc"}).json()
    assert len(got) == 500
    times = [g["ts"] for g in got]
    assert times == sorted(set(times))
    assert sorted(g["val"]["n"] for g in got) == list(range(1, 501))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"[1, 2]", "the body is a JSON array, not a JSON object"),
        (b'{"a": NaN}', "not valid JSON"),
        (b"temp=21", "not valid JSON"),
        (b"", "the body is empty"),
        (b'"hello"', "a JSON string, not a JSON object"),
    ],
)
def test_body_that_is_not_an_object_stores_nothing_and_says_why(
    emulator: InProcessEmulator, content: bytes, reason: str
) -> None:
    setup(emulator, set_property="last", send_property="cmd")
    emulator.http.put(f"{V3}/devices/d1/properties/cmd", json={"value": {"led": "on"}})
    r = post_data(emulator, None, content=content)
    assert r.status_code == 200
    assert reason in r.headers[NOT_STORED] and "nothing was stored" in r.headers[NOT_STORED]
    assert r.json() == {"led": "on"}  # the device still gets its command
    assert records(emulator) == []
    props = [p["property"] for p in emulator.http.get(f"{V3}/devices/d1/properties").json()]
    assert props == ["cmd"]  # set_property did not run
    assert emulator.http.get(f"{U}/devices/d1/stats").json()["connected"] is False
    ignored = events(emulator, "callback.ignored")
    assert len(ignored) == 1 and reason in ignored[0]["reason"] and ignored[0]["device"] == "d1"


def test_stored_call_has_no_header_and_missing_bucket_says_so(emulator: InProcessEmulator) -> None:
    setup(emulator, set_property="last")
    r = post_data(emulator, {"t": 1})
    assert r.status_code == 200 and NOT_STORED not in r.headers
    emulator.http.delete(f"{U}/buckets/b1")
    r = post_data(emulator, {"t": 2})
    assert r.status_code == 200
    assert r.headers[NOT_STORED] == "bucket 'b1' does not exist: the record was not stored"
    # The property is still set: only the bucket record was lost.
    assert emulator.http.get(f"{V3}/devices/d1/properties/last").json()["value"] == {"t": 2}
