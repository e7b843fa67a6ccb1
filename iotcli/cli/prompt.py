"""Asking before a delete: on a terminal, or not at all.

- ``--yes``: no question.
- stdin is a terminal: the question goes to stderr (stdout stays clean, JSON with ``--json``);
  "y" deletes, anything else ("n", Enter) keeps it: a line says nothing was deleted and the exit
  code is 0, as for ``rm -i`` (an answer is not an interrupt; Ctrl-C at the prompt is 130).
- no terminal (a script, CI, a pipe) and no ``--yes``: refused with exit code 2 (usage), because
  nobody can answer and a delete must not happen unasked.
"""

from __future__ import annotations

import sys

import typer

from iotcli.cli.output import Output
from iotcli.errors import UsageError


def stdin_is_terminal() -> bool:
    """Whether a person can answer (tests replace this)."""
    isatty = getattr(sys.stdin, "isatty", None)
    return bool(isatty and isatty())


def confirm_delete(out: Output, question: str, yes: bool, *, what: str) -> None:
    """Return when the delete may go ahead; else stop (``typer.Exit(0)`` or a UsageError)."""
    if yes:
        return
    if not stdin_is_terminal():
        raise UsageError(
            f"refusing to delete {what} without confirmation: no terminal to ask on",
            hint="pass --yes to delete without asking",
        )
    if not typer.confirm(question, default=False, err=True):
        out.info(f"nothing deleted: {what} stays")
        raise typer.Exit(0)
