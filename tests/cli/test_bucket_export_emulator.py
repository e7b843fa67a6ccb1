"""`iotcli bucket export` against the in-process emulator, through its export files."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from tests.conftest import Cli
from tests.harness import InProcessEmulator

T0 = 1_767_225_600_000


def test_export_uses_the_export_file_and_cleans_up(
    cli: Cli, emulator: InProcessEmulator, tmp_path: Path
) -> None:
    cli("bucket", "create", "big")
    for i in range(1500):  # more than one page of the read route
        val = {"n": i, "odd": True} if i % 2 else {"n": i}
        r = emulator.http.post("/v1/users/local/buckets/big/data", params={"ts": str(T0 + i)}, json=val)
        assert r.status_code == 200, r.text
    out = tmp_path / "big.jsonl"
    r = cli("bucket", "export", "big", "-o", str(out), "--min-ts", str(T0 + 1))
    assert r.exit_code == 0, r.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [x["ts"] for x in lines] == [T0 + i for i in range(1, 1500)]
    assert lines[0] == {"ts": T0 + 1, "val": {"n": 1, "odd": True}}
    assert "1499 records" in r.stderr
    csv_out = tmp_path / "big.csv"
    r = cli("--json", "bucket", "export", "big", "-f", "csv", "-o", str(csv_out), "--max-ts", str(T0 + 2))
    assert r.exit_code == 0, r.stderr
    assert r.json()["data"] == {"bucket": "big", "records": 3, "format": "csv", "file": str(csv_out)}
    rows = list(csv.reader(io.StringIO(csv_out.read_text())))
    assert rows == [
        ["ts", "n", "odd"],
        [str(T0), "0", ""],
        [str(T0 + 1), "1", "true"],
        [str(T0 + 2), "2", ""],
    ]
    # The CLI deleted its export files again; the emulator made them (journal).
    assert emulator.http.get("/v1/users/local/buckets/big/exports").json() == []
    made = emulator.http.get("/_emulator/events", params={"kind": "bucket.export_completed"}).json()
    assert [e["records"] for e in made] == [1499, 3]
    assert cli("bucket", "export", "missing").exit_code == 4
