"""``iotcli bucket|endpoint|property ...``: the data side of Thinger-style HTTP devices.

Every command is parse -> one client call (or a few) -> ``state.out``. The small parsers here
(JSON values, timestamps, ``K=V`` items, ids) are shared with ``iotcli.cli.device``.
"""

import csv
import json
import re
import tempfile
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from iotcli.cli.output import ms_to_iso
from iotcli.cli.state import CliState, get_state
from iotcli.errors import IotcliError, UsageError

bucket_app = typer.Typer(
    help="Buckets: time series of JSON records written by devices (callbacks) or by you.",
    no_args_is_help=True,
)
endpoint_app = typer.Typer(
    help="Endpoints: HTTP requests the platform makes with device data ({{field}} placeholders).",
    no_args_is_help=True,
)
property_app = typer.Typer(
    help="Device properties: named JSON values kept by the platform for a device.",
    no_args_is_help=True,
)


# The same rules as iotcli.client.thinger; not imported from there so that the CLI starts without httpx.
ID_RE = re.compile(r"^[a-zA-Z0-9_-]{1,32}$")
MAX_ITEMS = 1000


def register(app: typer.Typer) -> None:
    app.add_typer(bucket_app, name="bucket")
    app.add_typer(endpoint_app, name="endpoint")
    app.add_typer(property_app, name="property")


# --- shared parsers and formatting ----------------------------------------------------------


def check_id(value: str, what: str) -> str:
    """Ids of the Thinger-style surface: 1-32 letters, digits, '_' or '-' [source]."""
    if not ID_RE.match(value):
        raise UsageError(f"{what} id '{value[:64]}' is not valid: use 1-32 letters, digits, '_' or '-'")
    return value


def parse_json(text: str, what: str) -> Any:
    """Strict JSON from the command line; a UsageError naming the option when it does not parse."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{what} is not valid JSON: {exc.msg} at column {exc.colno}",
            hint="""quote it for the shell, e.g. --data '{"temperature": 21.5}'""",
        ) from None


def parse_json_object(text: str, what: str) -> dict[str, Any]:
    value = parse_json(text, what)
    if not isinstance(value, dict):
        raise UsageError(f"{what} must be a JSON object ({{...}}), not {type(value).__name__}")
    return value


def parse_loose_value(text: str) -> Any:
    """A property value: JSON when it parses (21.5, true, {"a":1}), else the text as a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_ts(text: str, what: str) -> int:
    """Epoch milliseconds, or an ISO 8601 date/time (UTC when it names no zone)."""
    raw = text.strip()
    if re.fullmatch(r"-?\d+", raw):
        return int(raw)
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{what} '{text}' is neither epoch milliseconds nor an ISO 8601 time",
            hint="examples: 1767225600000, 2026-01-01, 2026-01-01T12:00:00Z",
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def format_ms(value: Any) -> Any:
    """Epoch ms -> ``2026-01-01T12:00:00.000Z`` for people; anything else unchanged."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return value
    return ms_to_iso(value) or value


def humanize(obj: dict[str, Any], ts_keys: Iterable[str]) -> dict[str, Any]:
    """A copy with the named (possibly ``a.b`` nested) epoch-ms fields made readable."""
    out = json.loads(json.dumps(obj, default=str))
    for key in ts_keys:
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and leaf in node:
            node[leaf] = format_ms(node[leaf])
    return out  # type: ignore[no-any-return]


def show(state: CliState, obj: Any, ts_keys: Sequence[str] = ()) -> None:
    """A single object: as is with --json, readable times for people."""
    if state.out.json_mode or not isinstance(obj, dict):
        state.out.data(obj)
    else:
        state.out.data(humanize(obj, ts_keys))


def show_rows(
    state: CliState,
    rows: list[dict[str, Any]],
    columns: Sequence[tuple[str, str]],
    ts_keys: Sequence[str] = (),
    *,
    empty: str | None = None,
) -> None:
    """A list: as is with --json; for people a table with readable times, or ``empty`` when there is none."""
    if state.out.json_mode:
        state.out.data(rows)
    else:
        state.out.data([humanize(r, ts_keys) for r in rows], columns=columns, empty=empty)


def confirm(state: CliState, question: str, yes: bool, *, what: str = "it") -> None:
    """Ask on a terminal unless --yes; without a terminal and without --yes, refuse (prompt.py)."""
    from iotcli.cli.prompt import confirm_delete

    confirm_delete(state.out, question, yes, what=what)


def done(state: CliState, message: str, data: Any) -> None:
    """A change went through: a line for people on stderr, ``{"data": ...}`` for scripts."""
    state.out.success(message)
    if state.out.json_mode:
        state.out.json({"data": data})


RETENTION_UNITS = {
    "h": "hours",
    "hour": "hours",
    "hours": "hours",
    "d": "days",
    "day": "days",
    "days": "days",
    "w": "weeks",
    "week": "weeks",
    "weeks": "weeks",
    "mo": "months",
    "month": "months",
    "months": "months",
    "y": "years",
    "year": "years",
    "years": "years",
}


def parse_retention(text: str) -> dict[str, Any]:
    """'30d', '30 days', '6mo', '1y' -> {"period", "unit"}; '0' keeps records forever."""
    m = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", text)
    if m and m.group(1) == "0" and not m.group(2):
        return {"period": 0, "unit": "days"}
    if not m or m.group(2).lower() not in RETENTION_UNITS:
        raise UsageError(
            f"--retention '{text}' is not a period",
            hint="examples: 24h, 30d, 2w, 6mo, 1y, 0 (keep forever)",
        )
    return {"period": int(m.group(1)), "unit": RETENTION_UNITS[m.group(2).lower()]}


# --- bucket ---------------------------------------------------------------------------------


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
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
MinTsOpt = Annotated[
    str | None, typer.Option("--min-ts", help="Oldest record: epoch ms or ISO 8601 (UTC if no zone).")
]
MaxTsOpt = Annotated[
    str | None, typer.Option("--max-ts", help="Newest record: epoch ms or ISO 8601 (UTC if no zone).")
]


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
def bucket_list() -> None:
    """List buckets.

    Example:  iotcli bucket list
    """
    state = get_state()
    show_rows(
        state,
        state.client().list_buckets(),
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
    yes: YesOpt = False,
) -> None:
    """Delete a bucket and its records (or, with --records-only, only its records).

    Examples:
      iotcli bucket delete readings --yes
      iotcli bucket delete readings --records-only --yes
    """
    state = get_state()
    check_id(bucket, "bucket")
    api = state.client()
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


def record_columns(records: list[dict[str, Any]], v2: bool) -> list[tuple[str, str]]:
    """TS, then the union of the records' fields in order of first appearance."""
    fields: dict[str, None] = {}
    for rec in records:
        body = rec if v2 else rec.get("val")
        if isinstance(body, dict):
            for key in body:
                if not (v2 and key == "ts"):
                    fields.setdefault(key, None)
        elif not v2:
            fields.setdefault("", None)
    cols = [("ts", "TS")]
    for key in fields:
        if key == "":
            cols.append(("val", "VAL"))
        else:
            cols.append((key if v2 else f"val.{key}", key.upper()))
    return cols


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
) -> None:
    """Read records of a bucket, newest first unless --sort asc.

    Examples:
      iotcli bucket read readings -n 10
      iotcli bucket read readings --min-ts 2026-01-01 --max-ts 2026-01-02T00:00:00Z --sort asc --json
    """
    state = get_state()
    records = state.client().read_bucket(
        check_id(bucket, "bucket"),
        items=items,
        min_ts=parse_ts(min_ts, "--min-ts") if min_ts is not None else None,
        max_ts=parse_ts(max_ts, "--max-ts") if max_ts is not None else None,
        sort=sort.value if sort else None,
        version=2 if v2 else 1,
    )
    show_rows(
        state,
        records,
        record_columns(records, v2),
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


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def write_csv(spool: IO[str], fields: dict[str, None], has_scalar: bool, out: IO[str]) -> None:
    """Second pass over the spooled JSON lines: header = ts + the union of fields."""
    header = ["ts", *fields] + (["val"] if has_scalar else [])
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    spool.seek(0)
    for line in spool:
        rec = json.loads(line)
        val = rec.get("val")
        row = [csv_cell(rec.get("ts"))]
        row += [csv_cell(val.get(k)) if isinstance(val, dict) else "" for k in fields]
        if has_scalar:
            row.append("" if isinstance(val, dict) else csv_cell(val))
        writer.writerow(row)


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
    api = state.client()
    err = state.out.stderr
    progress = bool(getattr(err, "isatty", lambda: False)()) and not state.out.json_mode

    count = 0
    fields: dict[str, None] = {}
    has_scalar = False
    target: IO[str]
    if output is not None:
        try:
            target = output.open("w", encoding="utf-8", newline="")
        except OSError as exc:
            raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    else:
        target = state.out.stdout
    # CSV needs the union of fields before the first row: spool the records, then write.
    spool = tempfile.TemporaryFile("w+", encoding="utf-8") if fmt is ExportFormat.csv else None  # noqa: SIM115
    sink = spool if spool is not None else target
    exported: int | None = None
    try:
        if page_size is None:
            from iotcli.cli.bucket_export import via_exports

            exported = via_exports(api, bucket, fmt.value, low, high, target)
        pages = (
            ()
            if exported is not None
            else api.iter_bucket(bucket, min_ts=low, max_ts=high, page_size=page_size or MAX_ITEMS)
        )
        count = exported or 0
        for page in pages:
            for rec in page:
                sink.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
                val = rec.get("val")
                if isinstance(val, dict):
                    for key in val:
                        fields.setdefault(key, None)
                else:
                    has_scalar = True
            count += len(page)
            if progress:
                err.write(f"\rexported {count} records")
                err.flush()
        if spool is not None and exported is None:
            write_csv(spool, fields, has_scalar, target)
    except IotcliError:
        if progress:
            err.write("\n")
        raise
    finally:
        if spool is not None:
            spool.close()
        if output is not None:
            target.close()
        else:
            target.flush()
    if progress:
        err.write("\n")
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


# --- endpoint -------------------------------------------------------------------------------


class Method(StrEnum):
    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"


class BodyType(StrEnum):
    json = "json"
    custom = "custom"


EndpointArg = Annotated[str, typer.Argument(help="Endpoint id.", show_default=False)]


def parse_headers(items: Sequence[str]) -> list[dict[str, str]]:
    headers = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(
                f"--header '{item}' must look like KEY=VALUE", hint="e.g. --header 'X-Api-Key={{key}}'"
            )
        headers.append({"key": key.strip(), "value": value})
    return headers


@endpoint_app.command("create")
def endpoint_create(
    endpoint: EndpointArg,
    url: Annotated[
        str,
        typer.Option(
            "--url",
            help="Target URL (or sink:NAME for an emulator sink); {{field}} is replaced by the data's field.",
        ),
    ],
    method: Annotated[Method, typer.Option("--method", "-X", help="HTTP method.")] = Method.POST,
    header: Annotated[
        list[str] | None,
        typer.Option("--header", "-H", help="KEY=VALUE, repeatable; values may use {{field}}."),
    ] = None,
    body: Annotated[
        str | None, typer.Option("--body", help="Custom body template, e.g. '{\"t\": {{temperature}}}'.")
    ] = None,
    body_type: Annotated[
        BodyType | None,
        typer.Option(
            "--body-type",
            help="json: send the data as JSON; custom: send --body [default: json, custom with --body].",
        ),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Display name.")] = None,
    description: Annotated[str | None, typer.Option("--description", help="Free text.")] = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Create it disabled.")] = False,
) -> None:
    """Create an HTTP request endpoint (type http_request).

    Example:
      iotcli endpoint create notify --url 'https://example.com/hook/{{device}}' -H 'X-Key=s3cr3t' \\
        --body '{"t": {{temperature}}}' --body-type custom
    """
    state = get_state()
    check_id(endpoint, "endpoint")
    if url.startswith("sink:"):  # an emulator sink: its URL, asked of the server
        url = state.client().resolve_sink_url(url)
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"--url '{url}' must start with http:// or https://")
    kind = body_type or (BodyType.custom if body is not None else BodyType.json)
    if kind is BodyType.custom and body is None:
        raise UsageError("--body-type custom needs --body TEMPLATE")
    config: dict[str, Any] = {
        "url": url,
        "method": method.value,
        "headers": parse_headers(header or []),
        "body_type": kind.value,
    }
    if body is not None:
        config["body"] = body
    payload: dict[str, Any] = {
        "endpoint": endpoint,
        "type": "http_request",
        "enabled": not disabled,
        "config": config,
    }
    if name is not None:
        payload["name"] = name
    if description is not None:
        payload["description"] = description
    created = state.client().create_endpoint(payload)
    done(state, f"endpoint '{endpoint}' created", created)


@endpoint_app.command("list")
def endpoint_list() -> None:
    """List endpoints.

    Example:  iotcli endpoint list
    """
    state = get_state()
    show_rows(
        state,
        state.client().list_endpoints(),
        [
            ("endpoint", "ENDPOINT"),
            ("name", "NAME"),
            ("type", "TYPE"),
            ("config.method", "METHOD"),
            ("config.url", "URL"),
            ("enabled", "ENABLED"),
        ],
        empty="no endpoints yet: iotcli endpoint create ID --url URL",
    )


@endpoint_app.command("show")
def endpoint_show(endpoint: EndpointArg) -> None:
    """Show one endpoint's settings.

    Example:  iotcli endpoint show notify
    """
    state = get_state()
    show(state, state.client().get_endpoint(check_id(endpoint, "endpoint")), ("created", "modified"))


@endpoint_app.command("delete")
def endpoint_delete(endpoint: EndpointArg, yes: YesOpt = False) -> None:
    """Delete an endpoint.

    Example:  iotcli endpoint delete notify --yes
    """
    state = get_state()
    check_id(endpoint, "endpoint")
    confirm(state, f"Delete endpoint '{endpoint}'?", yes, what=f"endpoint '{endpoint}'")
    state.client().delete_endpoint(endpoint)
    done(state, f"endpoint '{endpoint}' deleted", {"endpoint": endpoint, "deleted": True})


@endpoint_app.command("call")
def endpoint_call(
    endpoint: EndpointArg,
    data: Annotated[
        str | None, typer.Option("--data", "-d", help="The data (JSON) the placeholders are filled from.")
    ] = None,
) -> None:
    """Call an endpoint now with some data and show the target's answer.

    Example:  iotcli endpoint call notify --data '{"device": "sensor-1", "temperature": 21.5}'
    """
    state = get_state()
    check_id(endpoint, "endpoint")
    payload = parse_json(data, "--data") if data is not None else {}
    answer = state.client().call_endpoint(endpoint, payload)
    if state.out.json_mode or not isinstance(answer, dict) or "status" not in answer:
        state.out.data(answer)
        return
    # status first, then whatever else the server tells (the emulator adds its delivery id), then the body
    head = {
        "status": answer.get("status"),
        **{k: v for k, v in answer.items() if k not in ("status", "body")},
    }
    state.out.data(head)
    body = answer.get("body")
    if body not in (None, ""):
        state.out.text(body if isinstance(body, str) else json.dumps(body, indent=2, ensure_ascii=False))


# --- property -------------------------------------------------------------------------------

DeviceArg = Annotated[str, typer.Argument(help="Device id.", show_default=False)]
PropertyArg = Annotated[str, typer.Argument(help="Property id.", show_default=False)]


@property_app.command("list")
def property_list(device: DeviceArg) -> None:
    """List the properties of a device.

    Example:  iotcli property list sensor-1
    """
    state = get_state()
    show_rows(
        state,
        state.client().list_properties(check_id(device, "device")),
        [("property", "PROPERTY"), ("value", "VALUE"), ("modified", "MODIFIED")],
        ("created", "modified"),
        empty="no properties yet: iotcli property set DEVICE PROPERTY VALUE",
    )


@property_app.command("get")
def property_get(device: DeviceArg, prop: PropertyArg) -> None:
    """Print a property's value (as JSON); --json prints the whole property.

    Example:  iotcli property get sensor-1 last_reading
    """
    state = get_state()
    obj = state.client().get_property(check_id(device, "device"), check_id(prop, "property"))
    if state.out.json_mode or not isinstance(obj, dict):
        state.out.data(obj)
        return
    value = obj.get("value")
    state.out.text(value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False))


@property_app.command("set")
def property_set(
    device: DeviceArg,
    prop: PropertyArg,
    value: Annotated[str, typer.Argument(help="JSON when it parses (21.5, true, {...}), else a string.")],
    string: Annotated[
        bool, typer.Option("--string", "-s", help="Store VALUE as a string even if it is JSON.")
    ] = False,
) -> None:
    """Create or overwrite a device property.

    Examples:
      iotcli property set sensor-1 command '{"led": "on"}'
      iotcli property set sensor-1 label 42 --string
    """
    state = get_state()
    check_id(device, "device")
    check_id(prop, "property")
    parsed = value if string else parse_loose_value(value)
    answer = state.client().set_property(device, prop, parsed)
    data = answer if isinstance(answer, dict) else {"property": prop, "value": parsed}
    done(state, f"property '{prop}' of device '{device}' set", data)


@property_app.command("delete")
def property_delete(device: DeviceArg, prop: PropertyArg, yes: YesOpt = False) -> None:
    """Delete a device property.

    Example:  iotcli property delete sensor-1 command --yes
    """
    state = get_state()
    check_id(device, "device")
    check_id(prop, "property")
    confirm(state, f"Delete property '{prop}' of device '{device}'?", yes, what=f"property '{prop}'")
    state.client().delete_property(device, prop)
    done(
        state,
        f"property '{prop}' of device '{device}' deleted",
        {"device": device, "property": prop, "deleted": True},
    )
