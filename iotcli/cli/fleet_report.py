"""``fleet run``'s output: the live table while it runs and the summary (a table, JSON or CSV), printed
through ``iotcli.cli.output`` (``state.out``).
"""

from typing import Any

from iotcli.cli.state import CliState


def _ms(v: Any) -> str:
    return "-" if v is None else f"{v:.0f} ms"


def live_rows(s: dict[str, Any]) -> dict[str, str]:
    """The live table: one row per figure."""
    lat = s["latency_ms"]
    rows = {
        "elapsed": f"{s['elapsed_s']:.0f} s",
        "sent": str(s["sent"]),
        "ok": str(s["ok"]),
        "errors": str(s["errors"]),
        "rate (now)": f"{s.get('current_rate_per_s', 0):.1f}/s",
        "rate (average)": f"{s['rate_per_s']:.1f}/s",
        "latency p50/p95/p99": f"{_ms(lat['p50'])} / {_ms(lat['p95'])} / {_ms(lat['p99'])}",
    }
    for err_kind, n in s["errors_by_kind"].items():
        rows[f"  {err_kind}"] = str(n)
    return rows


CSV_COLUMNS = [
    "kind",
    "users",
    "workers",
    "sent",
    "ok",
    "errors",
    "unfinished",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "rate_per_s",
    "elapsed_s",
    "interrupted",
    "errors_by_kind",
]


def show_summary(state: CliState, result: dict[str, Any], *, csv_out: bool = False) -> None:
    if state.out.json_mode:
        state.out.data(result)
        return
    lat = result["latency_ms"]
    if csv_out:
        row = {
            **result,
            "workers": result.get("workers", 0),
            "p50_ms": lat["p50"],
            "p95_ms": lat["p95"],
            "p99_ms": lat["p99"],
            "errors_by_kind": ";".join(f"{k}={n}" for k, n in result["errors_by_kind"].items()),
        }
        state.out.csv([row], CSV_COLUMNS)
        return
    rows = {
        "devices": result["users"],
        "sent": result["sent"],
        "ok": result["ok"],
        "errors": result["errors"],
        "latency p50/p95/p99": f"{_ms(lat['p50'])} / {_ms(lat['p95'])} / {_ms(lat['p99'])}",
        "rate": f"{result['rate_per_s']}/s over {result['elapsed_s']} s",
    }
    if result.get("unfinished"):
        rows["unfinished"] = f"{result['unfinished']} (no answer before the stop; the server may have them)"
    if "workers" in result:
        rows["workers"] = result["workers"]
    for err_kind, n in result["errors_by_kind"].items():
        rows[f"  {err_kind}"] = n
    if result["interrupted"]:
        rows["stopped"] = "interrupted (Ctrl-C)"
    state.out.data(rows)
