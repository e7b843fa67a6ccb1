"""``iotcli bucket ...``: buckets, time series of JSON records (create, list, show, delete, read, write, export).

Every command is parse -> one client call (or a few) -> ``state.out``; the parsers and printers the
resource commands share are in ``iotcli.cli.resources``, the export's file handling in
``iotcli.cli.bucket_export``.
"""

from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from iotcli.cli.resources import (
    MAX_ITEMS,
    MaxTsOpt,
    MinTsOpt,
    YesOpt,
    check_id,
    confirm,
    done,
    format_ms,
    parse_json_object,
    parse_retention,
    parse_ts,
    show,
    show_rows,
)
from iotcli.cli.state import get_state
from iotcli.errors import UsageError

bucket_app = typer.Typer(
    help="Buckets: time series of JSON records written by devices (callbacks) or by you.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(bucket_app, name="bucket")


class Source(StrEnum):
    write = "write"
    api = "api"


class Sort(StrEnum):
    asc = "asc"
    desc = "desc"


class ExportFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


BucketArg = Annotated[str, typer.Argument(help="Bucket id.", show_default=False)]


@bucket_app.command("create")
def bucket_create(
    bucket: BucketArg,
    name: Annotated[str | None, typer.Option("--name", help="Display name [default: the id].")] = None,
    description: Annotated[str | None, typer.Option("--description", help="Free text.")] = None,
    source: Annotated[
        Source, typer.Option("--source", help="write: device callbacks and writes; api: API writes.")
    ] = Source.write,
    retention: Annotated[
        str | None, typer.Option("--retention", help="Keep records for: 24h, 30d, 2w, 6mo, 1y; 0 = forever.")
    ] = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Create it disabled.")] = False,
) -> None:
    """Create a bucket that stores the JSON records it receives.

    Example:  iotcli bucket create readings --retention 30d
    """
    state = get_state()
    check_id(bucket, "bucket")
    created = state.client().create_bucket(
        bucket,
        name=name,
        source=source.value,
        enabled=not disabled,
        description=description,
        retention=parse_retention(retention) if retention is not None else None,
    )
    done(state, f"bucket '{bucket}' created", created)


@bucket_app.command("list")
def bucket_list(
    name: Annotated[str | None, typer.Option("--name", help="Only buckets whose id or name matches.")] = None,
    count: Annotated[int | None, typer.Option("--count", min=1, help="At most this many.")] = None,
    index: Annotated[int | None, typer.Option("--index", min=0, help="Skip this many (paging).")] = None,
) -> None:
    """List buckets.

    Examples:
      iotcli bucket list
      iotcli bucket list --name read --count 20
    """
    state = get_state()
    show_rows(
        state,
        state.client().list_buckets(name=name, count=count, index=index),
        [
            ("bucket", "BUCKET"),
            ("name", "NAME"),
            ("config.source", "SOURCE"),
            ("enabled", "ENABLED"),
            ("retention", "RETENTION"),
            ("description", "DESCRIPTION"),
        ],
        empty="no buckets yet: iotcli bucket create ID (or iotcli device create ID --bucket ID)",
    )


@bucket_app.command("show")
def bucket_show(bucket: BucketArg) -> None:
    """Show one bucket's settings.

    Example:  iotcli bucket show readings
    """
    state = get_state()
    show(state, state.client().get_bucket(check_id(bucket, "bucket")), ("created", "modified"))


@bucket_app.command("delete")
def bucket_delete(
    bucket: BucketArg,
    records_only: Annotated[
        bool, typer.Option("--records-only", help="Clear the records, keep the bucket.")
    ] = False,
    min_ts: Annotated[
        str | None,
        typer.Option(
            "--min-ts",
            help="Delete only the records at or after this time (epoch ms or ISO 8601); keeps the bucket.",
        ),
    ] = None,
    max_ts: Annotated[
        str | None,
        typer.Option(
            "--max-ts",
            help="Delete only the records at or before this time (epoch ms or ISO 8601); keeps the bucket.",
        ),
    ] = None,
    yes: YesOpt = False,
) -> None:
    """Delete a bucket and its records (or, with --records-only, only its records; with --min-ts/--max-ts,
    only the records in that range).

    Examples:
      iotcli bucket delete readings --yes
      iotcli bucket delete readings --records-only --yes
      iotcli bucket delete readings --min-ts 2026-01-01 --max-ts 2026-01-31T23:59:59Z --yes
    """
    state = get_state()
    check_id(bucket, "bucket")
    low = parse_ts(min_ts, "--min-ts") if min_ts is not None else None
    high = parse_ts(max_ts, "--max-ts") if max_ts is not None else None
    if low is not None and high is not None and low > high:
        raise UsageError(f"--min-ts ({min_ts}) is after --max-ts ({max_ts}): nothing would be deleted")
    api = state.client()
    if low is not None or high is not None:
        span = f"from {format_ms(low) if low is not None else 'the first'} to {format_ms(high) if high is not None else 'the last'}"
        confirm(
            state,
            f"Delete the records of bucket '{bucket}' {span}?",
            yes,
            what=f"the records of bucket '{bucket}' {span}",
        )
        answer = api.clear_bucket(bucket, min_ts=low, max_ts=high)
        deleted = answer.get("deleted") if isinstance(answer, dict) else None
        counted = f"{deleted} " if isinstance(deleted, int) else ""
        result = {"bucket": bucket, "records_deleted": True, "min_ts": low, "max_ts": high}
        if isinstance(deleted, int):
            result["deleted"] = deleted
        done(state, f"{counted}records of bucket '{bucket}' {span} deleted", result)
        return
    if records_only:
        confirm(
            state, f"Delete every record of bucket '{bucket}'?", yes, what=f"the records of bucket '{bucket}'"
        )
        api.clear_bucket(bucket)
        done(state, f"records of bucket '{bucket}' deleted", {"bucket": bucket, "records_deleted": True})
        return
    confirm(state, f"Delete bucket '{bucket}' and all its records?", yes, what=f"bucket '{bucket}'")
    api.delete_bucket(bucket)
    done(state, f"bucket '{bucket}' deleted", {"bucket": bucket, "deleted": True})


def record_columns(records: list[dict[str, Any]], v2: bool, body: str = "val") -> list[tuple[str, str]]:
    """TS, then the union of the records' fields in order of first appearance (``body``: the key that
    holds them in a v1 record: ``val``, or an aggregated record's ``mean``, ``max``...)."""
    fields: dict[str, None] = {}
    for rec in records:
        value = rec if v2 else rec.get(body)
        if isinstance(value, dict):
            for key in value:
                if not (v2 and key == "ts"):
                    fields.setdefault(key, None)
        elif not v2:
            fields.setdefault("", None)
    cols = [("ts", "TS")]
    for key in fields:
        if key == "":
            cols.append((body, body.upper()))
        else:
            cols.append((key if v2 else f"{body}.{key}", key.upper()))
    return cols


def aggregate_key(records: list[dict[str, Any]], agg_type: "AggType | None") -> str:
    """The key of an aggregated v1 record that holds its fields (``{"mean": {...}, "ts"}``)."""
    for rec in records:
        for key, value in rec.items():
            if key != "ts" and isinstance(value, dict):
                return str(key)
    return agg_type.value if agg_type else "mean"


class AggType(StrEnum):
    """What each interval reports for every numeric field (the set real clients offer)."""

    count_ = "count"  # (str.count is a method of every StrEnum member)
    mean = "mean"
    median = "median"
    mode = "mode"
    spread = "spread"
    stddev = "stddev"
    max = "max"
    min = "min"
    sum = "sum"


@bucket_app.command("read")
def bucket_read(
    bucket: BucketArg,
    items: Annotated[
        int | None,
        typer.Option("--items", "-n", min=1, max=MAX_ITEMS, help="How many records [default: 100]."),
    ] = None,
    min_ts: MinTsOpt = None,
    max_ts: MaxTsOpt = None,
    sort: Annotated[Sort | None, typer.Option("--sort", help="Order by time [default: desc].")] = None,
    v2: Annotated[
        bool, typer.Option("--v2", help='Fields inline ({"ts", ...}) instead of {"ts","val"}.')
    ] = False,
    agg: Annotated[
        str | None,
        typer.Option(
            "--agg",
            help="Aggregate: one record per interval (5m, 1h, 1d, 1w, 1mo, 1y), each numeric field summarized.",
        ),
    ] = None,
    agg_type: Annotated[
        AggType | None,
        typer.Option(
            "--agg-type", help="What each interval reports per field [default: mean].", show_default=False
        ),
    ] = None,
    tz: Annotated[
        str | None,
        typer.Option(
            "--tz", help="With --agg: the IANA time zone the intervals follow (Europe/Madrid) [default: UTC]."
        ),
    ] = None,
) -> None:
    """Read records of a bucket, newest first unless --sort asc.

    With --agg INTERVAL, one record per interval: --agg-type says what it reports for each numeric field, --tz the time zone the intervals follow.

    Examples:
      iotcli bucket read readings -n 10
      iotcli bucket read readings --min-ts 2026-01-01 --max-ts 2026-01-02T00:00:00Z --sort asc --json
      iotcli bucket read readings --agg 1h --agg-type max --min-ts 2026-01-01 --sort asc
    """
    state = get_state()
    for flag, given in (("--agg-type", agg_type), ("--tz", tz)):
        if given is not None and agg is None:
            raise UsageError(f"{flag} needs --agg INTERVAL (e.g. --agg 1h)")
    records = state.client().read_bucket(
        check_id(bucket, "bucket"),
        items=items,
        min_ts=parse_ts(min_ts, "--min-ts") if min_ts is not None else None,
        max_ts=parse_ts(max_ts, "--max-ts") if max_ts is not None else None,
        sort=sort.value if sort else None,
        version=2 if v2 else 1,
        agg=agg,
        agg_type=agg_type.value if agg_type else None,
        tz=tz,
    )
    body = aggregate_key(records, agg_type) if agg is not None and not v2 else "val"
    show_rows(
        state,
        records,
        record_columns(records, v2, body),
        ("ts",),
        empty=f"no records in bucket '{bucket}' yet: iotcli send-uplink --device ID temp:=21.5 "
        f"(or iotcli bucket write {bucket} --data JSON)",
    )


@bucket_app.command("write")
def bucket_write(
    bucket: BucketArg,
    data: Annotated[str, typer.Option("--data", "-d", help="The record: a JSON object.", show_default=False)],
    ts: Annotated[
        str | None, typer.Option("--ts", help="Record time: epoch ms or ISO 8601 [default: now].")
    ] = None,
) -> None:
    """Write one record into a bucket.

    Example:  iotcli bucket write readings --data '{"temperature": 21.5}' --ts 2026-01-01T12:00:00Z
    """
    state = get_state()
    check_id(bucket, "bucket")
    record = parse_json_object(data, "--data")
    when = parse_ts(ts, "--ts") if ts is not None else None
    answer = state.client().write_bucket(bucket, record, ts=when)
    # The emulator answers the stored {ts, val}; other servers may answer nothing.
    written = answer if isinstance(answer, dict) and "ts" in answer else {"ts": when, "val": record}
    result = {"bucket": bucket, **written}
    done(state, f"record written to bucket '{bucket}' (ts {format_ms(result.get('ts')) or 'now'})", result)


@bucket_app.command("export")
def bucket_export(
    bucket: BucketArg,
    fmt: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="jsonl: one {ts,val} per line; csv.")
    ] = (ExportFormat.jsonl),
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write [default: stdout].")
    ] = None,
    min_ts: MinTsOpt = None,
    max_ts: MaxTsOpt = None,
    page_size: Annotated[
        int | None,
        typer.Option(
            "--page-size",
            min=1,
            max=MAX_ITEMS,
            help="Read the records page by page, this many per request (max 1000), instead of "
            "through the server's export file.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Export every record of a bucket, oldest first, through the server's export file (POST .../exports);
    a server without exports, or --page-size, reads it page by page (no gaps, no duplicates).

    JSON lines hold one {"ts", "val"} record each; CSV has a ts column and one column per field (the union over all records; nested values as JSON).

    Examples:
      iotcli bucket export readings -o readings.jsonl
      iotcli bucket export readings --format csv -o readings.csv --min-ts 2026-01-01
    """
    state = get_state()
    check_id(bucket, "bucket")
    if output is None and state.out.json_mode:
        raise UsageError(
            "--json prints only JSON, but the export itself goes to stdout",
            hint="write the export to a file with -o FILE; --json then prints a summary",
        )
    low = parse_ts(min_ts, "--min-ts") if min_ts is not None else None
    high = parse_ts(max_ts, "--max-ts") if max_ts is not None else None
    target: IO[str]
    if output is not None:
        try:
            target = output.open("w", encoding="utf-8", newline="")
        except OSError as exc:
            raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    else:
        target = state.out.stdout
    from iotcli.cli.bucket_export import export_records

    try:
        count = export_records(
            state.client(), state.out, bucket, fmt.value, low, high, target, page_size=page_size
        )
    finally:
        if output is not None:
            target.close()
        else:
            target.flush()
    summary = {
        "bucket": bucket,
        "records": count,
        "format": fmt.value,
        "file": str(output) if output else None,
    }
    if output is not None:
        done(state, f"{count} records of bucket '{bucket}' written to {output}", summary)
    else:
        state.out.info(f"{count} records exported")
