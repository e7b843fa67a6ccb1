"""``iotcli send-uplink``: send a test uplink (or N of them) the way curl or Postman would.

Parse -> build a RequestPlan (iotcli.sending) -> print it, or send it through one connection pool
-> show the answer or a summary. httpx is not imported on this path (start-up stays light).
"""

import json
from typing import TYPE_CHECKING, Any

import typer

from iotcli.cli.bundles import takes
from iotcli.cli.send_options import SendOptions
from iotcli.cli.state import CliState, Environment, get_state
from iotcli.errors import NetworkError, RequestTimeout, UsageError

if TYPE_CHECKING:
    from iotcli.sending.outcome import Result
    from iotcli.sending.request import Prepared, RequestPlan
    from iotcli.sending.runner import Summary
    from iotcli.sending.transport import Transport


def register(app: typer.Typer) -> None:
    app.command("send-uplink", no_args_is_help=True)(send_uplink)


@takes(o=SendOptions)
def send_uplink(o: SendOptions) -> None:
    """Send a test uplink to an HTTP device, any URL, or as a LoRaWAN uplink; show the answer.

    Body placeholders, rendered per uplink: {{i}} (1..N), {{now}} (epoch ms), {{now_iso}}, {{random}} (0..1), {{random:MIN:MAX}}.

    Exit code: 0 for 2xx, 4 for 4xx, 5 for 5xx, 6 for no answer. With --repeat, 0 only when every uplink got a 2xx, else the most severe failure decides (6 > 5 > 4). A 2xx whose data the emulator did not store (header X-Iotcli-Not-Stored) is still 0, with a warning on stderr and "not_stored" in --json.

    Examples:
      iotcli send-uplink --device sensor-1 temp:=21.5 name=kitchen on:=true
      iotcli send-uplink --device sensor-1 --data '{"temp": {{random:18:25}}, "n": {{i}}}' --repeat 100 --rate 20
      iotcli send-uplink --url http://127.0.0.1:9000/hook -H 'X-Site: A' --file reading.json
      iotcli send-uplink --deveui 0018B20000000B20 --fport 1 --payload-hex 0102
      iotcli send-uplink --deveui 0018B20000000B20 --payload-hex 0102 --to http://127.0.0.1:9000/uplink
      iotcli send-uplink --device sensor-1 temp:=21.5 --print curl
    """
    run_send(get_state(), o)


def run_send(state: CliState, o: SendOptions) -> None:
    """Parse -> plan -> print or send -> show; raises iotcli errors or typer.Exit(code)."""
    if o.json_out:
        state.out.json_mode = True
    state.out.verbose = max(state.out.verbose, o.verbose)
    verbose = state.out.verbose
    if o.print_as is not None and o.print_as not in ("curl", "httpie", "python"):
        raise UsageError(f"--print '{o.print_as}' must be curl, httpie or python")
    rate = o.rate
    if rate is not None and o.interval is not None:
        raise UsageError("--rate and --interval exclude each other (--interval S is --rate 1/S)")
    if o.interval:
        rate = 1.0 / o.interval

    from iotcli.cli.send_plan import build_plan

    plan = build_plan(state, o)
    out = state.out
    # Rendered once: placeholders ({{now}}, {{random}}, ...) differ per render, so what is shown
    # (-v, the --json record) is the very request that is sent.
    first = plan.render(1)
    if o.print_as:
        from iotcli.sending.printers import render_print

        if o.repeat > 1:
            out.info(f"(the first of {o.repeat} uplinks; --repeat is not part of the printed {o.print_as})")
        out.stdout.write(render_print(o.print_as, first) + "\n")
        return
    if o.dry_run:
        _dry_run(state, plan, first, o.repeat)
        return

    transport = _transport(state, plan, o.timeout, single=o.repeat == 1)
    try:
        if o.repeat == 1:
            _send_single(state, plan, first, transport, verbose)
        else:
            _send_many(
                state, plan, transport, repeat=o.repeat, concurrency=o.concurrency, rate=rate, verbose=verbose
            )
    finally:
        transport.close()


# --- sending and showing -------------------------------------------------------------------------


def _transport(
    state: CliState, plan: "RequestPlan", timeout: float | None, *, single: bool = False
) -> "Transport":
    seconds = timeout or state.timeout
    # An injected transport (tests: the in-process emulator) serves the profile's server only;
    # --url and --to targets are other servers, reached over the network.
    if Environment.transport is not None and plan.url.startswith(state.server + "/"):
        from iotcli.sending.transport import HttpxTransport

        return HttpxTransport(Environment.transport, timeout=seconds)
    from iotcli.sending.transport import PooledTransport, SingleShotTransport

    if single and SingleShotTransport.usable(plan.url):
        return SingleShotTransport(timeout=seconds)

    return PooledTransport(timeout=seconds, ca_file=state.ca_file_for(plan.url))


def _request_record(request: "Prepared") -> dict[str, Any]:
    from iotcli.sending.printers import body_text, mask_headers, mask_url

    text = body_text(request.body)
    try:
        body: Any = json.loads(text) if text else None
    except ValueError:
        body = text
    return {
        "method": request.method,
        "url": mask_url(request.url),
        "headers": dict(mask_headers(request.headers)),
        "body": body,
    }


def _dry_run(state: CliState, plan: "RequestPlan", first: "Prepared", repeat: int) -> None:
    from iotcli.sending.printers import describe

    if state.out.json_mode:
        state.out.json({"data": {"target": plan.target, "repeat": repeat, "request": _request_record(first)}})
        return
    state.out.text(describe(first))
    if repeat > 1:
        varies = " (placeholders make each body differ)" if plan.varies else ""
        state.out.info(f"(dry run: the first of {repeat} uplinks{varies}; nothing sent)")
    else:
        state.out.info("(dry run: nothing sent)")


def _send_single(
    state: CliState, plan: "RequestPlan", request: "Prepared", transport: "Transport", verbose: int
) -> None:
    """Send ``request`` (``plan`` rendered once) as it is: what -v and --json show is what went out."""
    from iotcli.sending.outcome import exit_code_for, send_one
    from iotcli.sending.printers import describe, mask_url, pretty_body

    out = state.out
    if verbose:
        out.info("> " + describe(request).replace("\n", "\n> "))
    result = send_one(request, transport, 1)
    if result.failure is not None:
        if result.failure.timeout:
            raise RequestTimeout(f"{request.method} {mask_url(request.url)}: {result.failure}")
        from iotcli.netfail import classify

        what, hint = classify(request.url, str(result.failure))
        shown = what if ("DNS" in what or what.startswith("TLS")) else str(result.failure)
        raise NetworkError(f"{request.method} {mask_url(request.url)}: {shown}", hint=hint)
    answer = result.answer
    assert answer is not None
    latency_ms = round(answer.latency * 1000, 2)
    if out.json_mode:
        text = answer.body.decode("utf-8", errors="replace")
        try:
            body: Any = json.loads(text) if text.strip() else None
        except ValueError:
            body = text
        out.json(
            {
                "data": {
                    "target": plan.target,
                    "request": _request_record(request),
                    "status": answer.status,
                    "reason": answer.reason,
                    "ok": result.ok,
                    "not_stored": result.not_stored,
                    "latency_ms": latency_ms,
                    "headers": dict(answer.headers),
                    "body": body,
                }
            }
        )
    else:
        out.info(
            f"{answer.http_version} {answer.status} {answer.reason}  {latency_ms:.1f} ms  {request.method} {mask_url(request.url)}"
        )
        if verbose:
            out.info("".join(f"< {k}: {v}\n" for k, v in answer.headers) + "<")
        if result.not_stored is not None:
            out.warn(f"the platform stored nothing: {result.not_stored}")
        shown = pretty_body(answer.body)
        if shown:
            out.text(shown)
        elif plan.target == "device":
            out.info("(empty answer: no data for the device)")
        else:
            out.info("(empty answer)")

    code = exit_code_for({result.outcome: 1})
    if code:
        raise typer.Exit(int(code))


def _send_many(
    state: CliState,
    plan: "RequestPlan",
    transport: "Transport",
    *,
    repeat: int,
    concurrency: int,
    rate: float | None,
    verbose: int,
) -> None:
    from iotcli.sending.runner import run

    out = state.out
    shown_failures = 0

    with out.progress("sending", repeat) as bar:

        def on_result(result: "Result") -> None:
            nonlocal shown_failures
            bar.advance()
            if out.json_mode:
                return
            if verbose or (not result.ok and shown_failures < 5):
                if not result.ok:
                    shown_failures += 1
                what = (
                    f"{result.answer.status} {result.answer.reason}" if result.answer else str(result.failure)
                )
                line = f"#{result.index} {what}  {result.latency * 1000:.1f} ms"
                if not bar.note(line):
                    out.info(line)

        summary, _ = run(
            plan, transport, repeat=repeat, concurrency=concurrency, rate=rate, on_result=on_result
        )
    _show_summary(state, plan, summary)
    if summary.interrupted:
        raise typer.Exit(130)
    if summary.exit_code:
        raise typer.Exit(int(summary.exit_code))


def _show_summary(state: CliState, plan: "RequestPlan", summary: "Summary") -> None:
    from iotcli.sending.printers import mask_url

    out = state.out
    data = summary.to_dict()
    if out.json_mode:
        out.json({"data": {"target": plan.target, "url": mask_url(plan.url), **data}})
        return
    failed = ""
    if data["failed_by_status"]:
        failed = " (" + ", ".join(f"{k}: {n}" for k, n in data["failed_by_status"].items()) + ")"
    lat = data["latency_ms"]
    stopped = "  (interrupted)" if summary.interrupted else ""
    if summary.not_stored:
        reasons = "; ".join(f"{n}x {reason}" for reason, n in summary.not_stored.most_common(3))
        more = f" (+{len(summary.not_stored) - 3} more reasons)" if len(summary.not_stored) > 3 else ""
        out.warn(f"{data['not_stored']} of {data['ok']} ok uplinks stored nothing: {reasons}{more}")
    not_stored = f"  not stored {data['not_stored']}" if data["not_stored"] else ""
    out.text(
        f"sent {data['sent']}  ok {data['ok']}  failed {data['failed']}{failed}{not_stored}  "
        f"in {data['elapsed_s']:.2f} s ({data['rate_per_s']:.1f}/s){stopped}\n"
        f"latency p50 {lat['p50']:.1f} ms  p95 {lat['p95']:.1f} ms  p99 {lat['p99']:.1f} ms  max {lat['max']:.1f} ms"
    )
