"""The CLI's one error boundary: every failure becomes one line (and a hint) and an exit code.

The root command group catches what any command raises: iotcli errors carry their exit code,
Ctrl-C is 130, anything unexpected is 1 with a short message (a traceback only with IOTCLI_DEBUG=1).
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import TYPE_CHECKING, Any

import typer
from typer._click import Context
from typer.core import TyperGroup

from iotcli.errors import ExitCode, IotcliError, UsageError

if TYPE_CHECKING:
    from iotcli.cli.output import Output


class IotcliGroup(TyperGroup):
    """The root group: runs the command tree inside the error boundary."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from iotcli.cli.tree import prepare_tree

        prepare_tree(self)  # global options on every command, help without <bool>, light coercion

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        from iotcli.cli.tree import lighten

        lighten(self)  # typer appends its completion options after building the group
        return super().parse_args(ctx, args)

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except typer.Exit:
            raise
        except typer.Abort:
            raise typer.Exit(report_failure(KeyboardInterrupt(), _output(ctx))) from None
        except typer.TyperException as exc:  # click's usage errors (vendored by typer)
            state = _state(ctx)
            if state is not None and state.out.json_mode and hasattr(exc, "format_message"):
                state.out.error(UsageError(exc.format_message()))
                raise typer.Exit(ExitCode.USAGE) from None
            raise
        except (KeyboardInterrupt, Exception) as exc:  # noqa: BLE001 - the boundary
            raise typer.Exit(report_failure(exc, _output(ctx))) from None


def report_failure(exc: KeyboardInterrupt | Exception, out: Output) -> int:
    """The boundary's rules: report ``exc`` on ``out`` (one line and a hint, or ``{"error": ...}``
    with --json) and return the exit code.

    Typer-free, so that code outside the command tree can report a failure the same way.
    """
    if isinstance(exc, BrokenPipeError):
        # The reader went away (`iotcli events --follow | head -3`): stop quietly, like Unix tools.
        _silence_stdout()
        return int(ExitCode.OK)
    err: IotcliError | None = None
    if isinstance(exc, KeyboardInterrupt):
        code = int(ExitCode.INTERRUPTED)
    elif isinstance(exc, IotcliError):
        code = int(exc.exit_code)
        err = exc
    else:
        if os.environ.get("IOTCLI_DEBUG"):
            traceback.print_exception(exc)
        code = int(ExitCode.UNEXPECTED)
        err = IotcliError(
            f"unexpected {type(exc).__name__}: {exc}",
            hint="this is a bug in iotcli; rerun with IOTCLI_DEBUG=1 for details and report it",
        )
    try:
        if err is None:
            _report_interrupt(out)
        else:
            out.error(err)
    except BrokenPipeError:  # nobody reads the report (`--json | true`): the exit code still tells
        _silence_stdout()
    return code


def _state(ctx: Context) -> Any:
    from iotcli.cli.state import CliState

    obj = ctx.find_root().obj
    return obj if isinstance(obj, CliState) else None


def _output(ctx: Context) -> Output:
    state = _state(ctx)
    if state is not None:
        return state.out
    from iotcli.cli.output import Output

    return Output(json_mode="--json" in sys.argv)


def _report_interrupt(out: Output) -> None:
    if out.json_mode:  # one line: whatever reads a stream line by line sees a whole object
        out.stream_line({"error": {"code": "interrupted", "message": "interrupted", "hint": None}})
    else:
        out.stderr.write("interrupted\n")


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (tests)
        pass
