"""The CLI's one error boundary: every failure becomes one line (and a hint) and an exit code.

The root command group catches what any command raises: iotcli errors carry their exit code,
Ctrl-C is 130, anything unexpected is 1 with a short message (a traceback only with IOTCLI_DEBUG=1).
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any

import typer
from typer._click import Context
from typer.core import TyperGroup

from iotcli.errors import ExitCode, IotcliError, UsageError


class IotcliGroup(TyperGroup):
    """The root group: runs the command tree inside the error boundary."""

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except typer.Exit:
            raise
        except typer.Abort:
            _report_interrupt(ctx)
            raise typer.Exit(ExitCode.INTERRUPTED) from None
        except typer.TyperException as exc:  # click's usage errors (vendored by typer)
            state = _state(ctx)
            if state is not None and state.out.json_mode and hasattr(exc, "format_message"):
                state.out.error(UsageError(exc.format_message()))
                raise typer.Exit(ExitCode.USAGE) from None
            raise
        except KeyboardInterrupt:
            _report_interrupt(ctx)
            raise typer.Exit(ExitCode.INTERRUPTED) from None
        except BrokenPipeError:
            # The reader went away (`iotcli events --follow | head -3`): stop quietly, like Unix tools.
            _silence_stdout()
            raise typer.Exit(ExitCode.OK) from None
        except IotcliError as exc:
            _output(ctx).error(exc)
            raise typer.Exit(int(exc.exit_code)) from None
        except Exception as exc:  # noqa: BLE001 - the boundary
            if os.environ.get("IOTCLI_DEBUG"):
                traceback.print_exc()
            err = IotcliError(
                f"unexpected {type(exc).__name__}: {exc}",
                hint="this is a bug in iotcli; rerun with IOTCLI_DEBUG=1 for details and report it",
            )
            _output(ctx).error(err)
            raise typer.Exit(ExitCode.UNEXPECTED) from None


def _state(ctx: Context) -> Any:
    from iotcli.cli.state import CliState

    obj = ctx.find_root().obj
    return obj if isinstance(obj, CliState) else None


def _output(ctx: Context) -> Any:
    state = _state(ctx)
    if state is not None:
        return state.out
    from iotcli.cli.output import Output

    return Output(json_mode="--json" in sys.argv)


def _report_interrupt(ctx: Context) -> None:
    out = _output(ctx)
    if out.json_mode:
        out.json({"error": {"code": "interrupted", "message": "interrupted", "hint": None}})
    else:
        out.stderr.write("interrupted\n")


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (tests)
        pass
