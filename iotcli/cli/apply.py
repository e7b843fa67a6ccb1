"""``iotcli apply -f FILE [--dry-run] [--prune]`` and ``iotcli export [--file F]``: one environment file format.

The library (``iotcli.provision``) reads, checks, plans and applies; this module only parses options and
prints the plan.
"""

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from iotcli.cli.state import get_state
from iotcli.errors import UsageError


def register(app: typer.Typer) -> None:
    app.command("apply")(apply)
    app.command("export")(export)


def apply(
    file: Annotated[
        Path, typer.Option("--file", "-f", help="The environment file (TOML, see docs/apply.md).")
    ],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing.")] = False,
    prune: Annotated[
        bool, typer.Option("--prune", help="Also delete what the file does not name (on this server).")
    ] = False,
) -> None:
    """Make the server match an environment file: sinks, buckets, endpoints, devices (callback, properties,
    tokens) and connections. Idempotent: a second run changes nothing. ${VAR} values come from the environment.

    Examples:
      iotcli apply -f env.toml --dry-run
      iotcli apply -f env.toml
      iotcli --profile cloud apply -f env.toml --prune
    """
    from iotcli.provision import apply_plan, load_env, plan

    state = get_state()
    env = load_env(file)  # every check before anything changes
    api = state.client()
    the_plan, planner = plan(api, env, prune=prune)
    out = state.out
    for change in the_plan.changes:
        if change.action != "unchanged" or out.verbose:
            out.info(("plan: " if dry_run else "") + change.describe())
    if not dry_run:
        apply_plan(the_plan)
    summary = the_plan.summary()
    pending = the_plan.pending
    if not pending:
        out.success(f"nothing to change: the server matches {file} ({summary['unchanged']} unchanged)")
    else:
        words = ("to create", "to update", "to delete") if dry_run else ("created", "updated", "deleted")
        counts = [
            f"{summary[k]} {w}"
            for k, w in zip(("create", "update", "delete"), words, strict=True)
            if summary[k]
        ]
        counts.append(f"{summary['unchanged']} unchanged")
        out.success(("dry run, nothing changed: " if dry_run else "") + ", ".join(counts))
    tokens = {key: t.get("token") for key, t in planner.created_tokens.items()}
    for key, secret in tokens.items():
        out.info(f"device token {key}: {secret}  (shown once: keep it)")
    if out.json_mode:
        out.json(
            {
                "data": {
                    "dry_run": dry_run,
                    "changed": bool(pending) and not dry_run,
                    "summary": summary,
                    "changes": [c.to_dict() for c in the_plan.changes],
                    "tokens": tokens,
                }
            }
        )


def export(
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Write here (atomically) instead of stdout.")
    ] = None,
) -> None:
    """Write what the server holds as an environment file (the format of `iotcli apply`).

    Secrets the server masks (keys, passwords) and secret endpoint headers become ${VAR} references.

    Examples:
      iotcli export > env.toml
      iotcli --profile cloud export --file cloud.toml
    """
    from iotcli.provision import dump_env, export_env

    state = get_state()
    doc = export_env(state.client())
    if state.out.json_mode:
        state.out.json({"data": doc})
        if file is None:
            return
    text = dump_env(doc)
    if file is None:
        state.out.stdout.write(text)
        return
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".export-", dir=file.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, file)
    except OSError as exc:
        raise UsageError(f"cannot write {file}: {exc.strerror or exc}") from None
    state.out.success(f"wrote {file}")
