"""bucket read --agg/--agg-type/--tz, bucket list --name/--count/--index, bucket delete --min-ts/--max-ts
(issue 17: the client had these; the CLI now types them), against the in-process emulator."""

from __future__ import annotations

from tests.conftest import Cli

H = 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def _hourly(cli: Cli) -> None:
    """Two records in each of the first two hours of 2026-01-01 (UTC)."""
    assert cli("bucket", "create", "readings").exit_code == 0
    for ts, temp in ((T0, 10), (T0 + 60_000, 20), (T0 + H, 30), (T0 + H + 60_000, 50)):
        r = cli("bucket", "write", "readings", "--data", f'{{"temp": {temp}}}', "--ts", str(ts))
        assert r.exit_code == 0, r.stderr


def test_read_agg_one_record_per_interval(cli: Cli) -> None:
    _hourly(cli)
    r = cli("bucket", "read", "readings", "--agg", "1h", "--sort", "asc", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["data"] == [{"mean": {"temp": 15}, "ts": T0}, {"mean": {"temp": 40}, "ts": T0 + H}]
    r = cli("bucket", "read", "readings", "--agg", "1h", "--agg-type", "max", "--sort", "asc", "--json")
    assert [rec["max"]["temp"] for rec in r.json()["data"]] == [20, 50]
    # The table for people: TS and one column per field of the aggregated record.
    r = cli("bucket", "read", "readings", "--agg", "1h", "--agg-type", "sum", "--sort", "asc")
    header, *rows = r.stdout.splitlines()
    assert header.split("\t") == ["TS", "TEMP"]
    assert [row.split("\t")[1] for row in rows] == ["30", "80"]
    # A time zone lays the intervals out in its wall-clock time: New York's day began at 05:00Z.
    day_utc = cli("bucket", "read", "readings", "--agg", "1d", "--json").json()["data"]
    day_ny = cli("bucket", "read", "readings", "--agg", "1d", "--tz", "America/New_York", "--json")
    assert day_ny.exit_code == 0, day_ny.stderr
    assert [d["ts"] for d in day_utc] == [T0] and [d["ts"] for d in day_ny.json()["data"]] == [T0 - 19 * H]


def test_read_agg_mistakes(cli: Cli) -> None:
    _hourly(cli)
    r = cli("bucket", "read", "readings", "--agg-type", "max")
    assert r.exit_code == 2 and "--agg-type needs --agg" in r.stderr
    r = cli("bucket", "read", "readings", "--tz", "Europe/Madrid")
    assert r.exit_code == 2 and "--tz needs --agg" in r.stderr
    r = cli("bucket", "read", "readings", "--agg", "1h", "--agg-type", "average")
    assert r.exit_code == 2 and "--agg-type" in r.stderr
    r = cli("bucket", "read", "readings", "--agg", "hourly")
    assert r.exit_code == 4 and "agg" in r.stderr  # the server names the parameter


def test_list_name_count_index(cli: Cli) -> None:
    for bucket in ("readings", "readings_old", "alarms"):
        assert cli("bucket", "create", bucket).exit_code == 0
    r = cli("bucket", "list", "--name", "readings", "--json")
    assert r.exit_code == 0, r.stderr
    assert sorted(b["bucket"] for b in r.json()["data"]) == ["readings", "readings_old"]
    everything = [b["bucket"] for b in cli("bucket", "list", "--json").json()["data"]]
    page = cli("bucket", "list", "--count", "1", "--index", "1", "--json").json()["data"]
    assert [b["bucket"] for b in page] == everything[1:2]
    r = cli("bucket", "list", "--name", "nothing-like-it")
    assert r.exit_code == 0 and "no buckets yet" in r.stderr
    assert cli("bucket", "list", "--count", "0").exit_code == 2


def test_delete_a_range_keeps_the_bucket_and_the_rest(cli: Cli) -> None:
    _hourly(cli)
    r = cli("bucket", "delete", "readings", "--min-ts", str(T0 + H), "--yes")
    assert r.exit_code == 0, r.stderr
    assert "2 records of bucket 'readings' from" in r.stderr
    left = cli("bucket", "read", "readings", "--sort", "asc", "--json").json()["data"]
    assert [rec["ts"] for rec in left] == [T0, T0 + 60_000]
    r = cli("--json", "bucket", "delete", "readings", "--min-ts", "2026-01-01", "--max-ts", str(T0), "--yes")
    assert r.exit_code == 0, r.stderr
    assert r.json()["data"] == {
        "bucket": "readings",
        "records_deleted": True,
        "min_ts": T0,
        "max_ts": T0,
        "deleted": 1,
    }
    assert [rec["ts"] for rec in cli("bucket", "read", "readings", "--json").json()["data"]] == [T0 + 60_000]
    assert cli("bucket", "show", "readings").exit_code == 0  # the bucket stays


def test_delete_a_range_mistakes(cli: Cli) -> None:
    _hourly(cli)
    r = cli("bucket", "delete", "readings", "--min-ts", str(T0 + H), "--max-ts", str(T0), "--yes")
    assert r.exit_code == 2 and "--min-ts" in r.stderr and "after --max-ts" in r.stderr
    r = cli("bucket", "delete", "readings", "--max-ts", "yesterday", "--yes")
    assert r.exit_code == 2 and "--max-ts" in r.stderr
    # No terminal and no --yes: refused, nothing deleted.
    r = cli("bucket", "delete", "readings", "--min-ts", str(T0))
    assert r.exit_code == 2
    assert len(cli("bucket", "read", "readings", "--json").json()["data"]) == 4


def test_help_shows_an_example_of_each_new_flag() -> None:
    from tests.harness import run_cli

    examples = {
        ("bucket", "read"): "iotcli bucket read readings --agg 1h --agg-type max",
        ("bucket", "list"): "iotcli bucket list --name read --count 20",
        ("bucket", "delete"): "iotcli bucket delete readings --min-ts 2026-01-01 --max-ts",
    }
    for argv, example in examples.items():
        r = run_cli([*argv, "--help"])
        assert r.exit_code == 0 and example in r.stdout, argv
