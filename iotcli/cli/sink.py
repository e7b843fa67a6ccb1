"""``iotcli sink create|list|show|requests|clear|delete``: the emulator's local destinations."""

import json
from contextlib import closing
from typing import Annotated, Any

import typer

from iotcli.cli.deliveries import format_ms
from iotcli.cli.state import CliState, get_state
from iotcli.errors import UsageError
from iotcli.sinkspec import ScriptError, check_downlink, parse_answer, parse_delay, parse_respond

sink_app = typer.Typer(
    help="Sinks: local destinations in the emulator that record requests and answer from a script.",
    no_args_is_help=True,
)

SINK_COLUMNS = [("name", "NAME"), ("url", "URL"), ("answers", "ANSWERS"), ("requests", "REQUESTS")]
REQUEST_COLUMNS = [
    ("id", "ID"),
    ("time", "TIME"),
    ("method", "METHOD"),
    ("target", "PATH"),
    ("result", "ANSWER"),
    ("size", "BYTES"),
]

#: The script field a ScriptError names -> the option that set it.
OPTION_OF = {"downlink.payload_hex": "--downlink-hex", "downlink.FPort": "--fport"}

NameArg = Annotated[str, typer.Argument(help="Sink name (1-32 letters, digits, '_' or '-').")]


def register(app: typer.Typer) -> None:
    app.add_typer(sink_app, name="sink")


def build_script(
    respond: str | None,
    default: str | None,
    delay: str | None,
    body: str | None,
    headers: list[str],
    downlink_hex: str | None,
    fport: int | None,
) -> dict[str, Any]:
    """The command line's options as a sink script (CONTRACT section 6), checked before sending."""
    script: dict[str, Any] = {}
    try:
        if respond is not None:
            script["respond"] = parse_respond(respond)
        if default is not None:
            script["default"] = parse_answer(default, "--default")
        if delay is not None:
            seconds = parse_delay(delay)
            script["delay"] = list(seconds) if isinstance(seconds, tuple) else seconds
        if fport is not None and downlink_hex is None:
            raise UsageError("--fport goes with --downlink-hex")
        if downlink_hex is not None:
            spec: dict[str, Any] = {"payload_hex": downlink_hex}
            if fport is not None:
                spec["FPort"] = fport
            script["downlink"] = check_downlink(spec)
    except ScriptError as exc:
        field, _sep, problem = str(exc).partition(": ")
        raise UsageError(f"{OPTION_OF.get(field, '--' + field)}: {problem}") from None
    if body is not None:
        try:
            script["body"] = json.loads(body)
        except ValueError:
            script["body"] = body
    if headers:
        parsed: dict[str, str] = {}
        for item in headers:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise UsageError(f"--header '{item}' is not K=V")
            parsed[key.strip()] = value
        script["headers"] = parsed
    return script


def answers(sink: dict[str, Any]) -> str:
    """``503,503 then 200, delay 2s``: the script in a few words."""
    seq = ",".join(str(a) for a in sink.get("respond") or [])
    text = f"{seq} then {sink.get('default')}" if seq else str(sink.get("default"))
    delay = sink.get("delay")
    if isinstance(delay, list):
        text += f", delay {delay[0]:g}-{delay[1]:g}s"
    elif delay:
        text += f", delay {delay:g}s"
    if sink.get("downlink"):
        dl = sink["downlink"]
        text += f", downlink {dl['payload_hex']}" + (f" on FPort {dl['FPort']}" if dl.get("FPort") else "")
    return text


@sink_app.command("create")
def create(
    name: NameArg,
    respond: Annotated[
        str | None,
        typer.Option("--respond", help="Answers in order, one per request: statuses, 'timeout', 'reset'."),
    ] = None,
    default: Annotated[
        str | None, typer.Option("--default", help="The answer once --respond is used up \\[default: 200].")
    ] = None,
    delay: Annotated[
        str | None,
        typer.Option("--delay", help="Wait before answering (emulator clock): 2s, 500ms, or 1s-3s (random)."),
    ] = None,
    body: Annotated[str | None, typer.Option("--body", help="Answer body (JSON, or text).")] = None,
    header: Annotated[
        list[str] | None, typer.Option("--header", "-H", help="Answer header K=V (repeatable).")
    ] = None,
    downlink_hex: Annotated[
        str | None,
        typer.Option("--downlink-hex", help="Class A: answer each DevEUI_uplink with this downlink payload."),
    ] = None,
    fport: Annotated[
        int | None, typer.Option("--fport", help="FPort of that downlink \\[default: the uplink's].")
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace the script of an existing sink (keeps its requests).")
    ] = False,
) -> None:
    """Create a sink and print its URL: point a connection or an endpoint at it (sink:NAME).

    Examples:
      iotcli sink create app
      iotcli sink create flaky --respond 503,503,200 --delay 2s
      iotcli sink create lorawan-app --downlink-hex 0a --fport 2
      iotcli connection create app --destination sink:app
    """
    state = get_state()
    script = build_script(respond, default, delay, body, header or [], downlink_hex, fport)
    api = state.client()
    sink = api.put_sink(name, script) if replace else api.create_sink(name, script)
    state.out.success(f"sink '{name}' answers {answers(sink)}")
    if state.out.json_mode:
        state.out.json({"data": sink})
    else:
        state.out.text(str(sink["url"]))


@sink_app.command("list")
def list_() -> None:
    """List the sinks with their URL, script and request count.

    Example:  iotcli sink list
    """
    state = get_state()
    sinks = state.client().list_sinks()
    if state.out.json_mode:
        state.out.data(sinks)
        return
    state.out.data([{**s, "answers": answers(s)} for s in sinks], columns=SINK_COLUMNS)


@sink_app.command("show")
def show(name: NameArg) -> None:
    """Show one sink.

    Example:  iotcli sink show app
    """
    state = get_state()
    sink = state.client().get_sink(name)
    if state.out.json_mode:
        state.out.data(sink)
        return
    state.out.data(
        {**sink, "created": format_ms(sink.get("created")), "modified": format_ms(sink.get("modified"))}
    )


def request_row(req: dict[str, Any]) -> dict[str, Any]:
    answer = req.get("answer") or {}
    result = str(answer.get("status")) if answer.get("outcome") == "answered" else str(answer.get("outcome"))
    if answer.get("downlink"):
        result += f" +downlink {answer['downlink'].get('status', answer['downlink'].get('error'))}"
    query = "&".join(
        f"{k}={v}"
        for k, vs in (req.get("query") or {}).items()
        for v in (vs if isinstance(vs, list) else [vs])
    )
    return {
        **req,
        "time": format_ms(req.get("ts")),
        "target": req.get("path", "/") + (f"?{query}" if query else ""),
        "result": result,
    }


def request_line(req: dict[str, Any]) -> str:
    row = request_row(req)
    body = str(req.get("body") or "")
    body = body if len(body) <= 200 else body[:200] + "..."
    return (
        f"{row['time']}  #{req['id']}  {req['method']} {row['target']}  -> {row['result']}  {body}".rstrip()
    )


@sink_app.command("requests")
def requests(
    name: NameArg,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new requests until Ctrl-C.")
    ] = False,
    after: Annotated[
        int | None, typer.Option("--after", min=0, help="Only requests with a larger id.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=10_000, help="At most N requests.")] = 100,
    count: Annotated[
        int | None, typer.Option("--count", min=1, help="With --follow: stop after N requests.")
    ] = None,
    secrets: Annotated[
        bool, typer.Option("--show-secrets", help="Show secret header and query values in clear.")
    ] = False,
) -> None:
    """The requests a sink received, oldest first: method, path, headers, body and its answer.

    With --follow new requests print as they arrive (one JSON object per line with --json).

    Examples:
      iotcli sink requests app
      iotcli --json sink requests app | jq '.data[0].json'
      iotcli sink requests app --follow
    """
    state = get_state()
    api = state.client()
    if not follow:
        if count is not None:
            raise UsageError("--count goes with --follow; without it use --limit")
        found = api.sink_requests(name, after=after, limit=limit, secrets=secrets)
        if state.out.json_mode:
            state.out.data(found)
        else:
            state.out.data([request_row(r) for r in found], columns=REQUEST_COLUMNS)
        return
    follow_requests(state, name, after, count, secrets)


def follow_requests(state: CliState, name: str, after: int | None, count: int | None, secrets: bool) -> None:
    api = state.client()
    sink = api.get_sink(name)  # a 404 for an unknown sink before following
    state.out.info(f"following requests of sink '{name}' at {sink['url']} (Ctrl-C to stop)")
    last = after or 0
    seen = 0
    # The stream tells when a request arrived; the records come from the sink's own list (nothing is
    # missed between the listing and the stream: the stream starts first).
    latest = api.list_events(limit=1)
    start = latest[-1]["id"] if latest else 0
    with closing(api.follow_events(kind="sink", after=start)) as stream:
        while True:
            page = api.sink_requests(name, after=last, limit=1000, secrets=secrets)
            for req in page:
                last = req["id"]
                state.out.stream_line(req if state.out.json_mode else request_line(req))
                seen += 1
                if count is not None and seen >= count:
                    return
            if len(page) == 1000:
                continue  # more are recorded already: print them before waiting for new ones
            for event in stream:
                if event.get("sink") == name and event.get("kind") in {"sink.request", "sink.cleared"}:
                    if event.get("kind") == "sink.cleared":
                        last = 0
                    break


@sink_app.command("clear")
def clear(name: NameArg) -> None:
    """Forget a sink's recorded requests (its status sequence starts again).

    Example:  iotcli sink clear app
    """
    state = get_state()
    result = state.client().clear_sink(name)
    state.out.success(f"sink '{name}': {result.get('cleared', 0)} requests cleared")
    if state.out.json_mode:
        state.out.json({"data": result})


@sink_app.command("delete")
def delete(
    name: NameArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a sink and its recorded requests (asks first on a terminal; scripts pass --yes).

    Example:  iotcli sink delete app --yes
    """
    from iotcli.cli.prompt import confirm_delete

    state = get_state()
    confirm_delete(state.out, f"Delete sink '{name}' and its recorded requests?", yes, what=f"sink '{name}'")
    result = state.client().delete_sink(name)
    state.out.success(f"sink '{name}' deleted")
    if state.out.json_mode:
        state.out.json({"data": result})
