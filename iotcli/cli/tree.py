"""The command tree: built lazily, one group per command, then adjusted once before anything parses.

- **One group per command.** ``iotcli device list`` needs neither the other groups' modules nor their
  commands: ``populate`` registers only the module of the command named on the command line
  (``command_name``), ``iotcli --help`` gets the root with one placeholder per command (its summary,
  no module imported), shell completion and unknown names the whole tree (``tree_for``).
- **Global options anywhere.** ``--profile --server --user --token --ca-file --json -v`` are declared on the
  root callback; here every group and command below it gets the same options too, so that
  ``iotcli device show X --json`` works as ``iotcli --json device show X`` does (gh/kubectl style).
  They are real options of each command, so click's own parser reads them: ``--`` and option values
  that look like options (``--data --json``) behave as everywhere else, and an unknown option gets
  no misleading suggestion. A command that declares an option string itself keeps it (``emulate
  --user/--token`` is the emulator's account, ``send-uplink --token`` the device's token): only the
  strings a command does not use are added.
- **Help for people.** A flag or a counted option (``-v``) shows no ``<bool>``/``<int>`` type.
- **Light coercion.** typer 0.29 coerces every parameter value through a pydantic TypeAdapter; pydantic
  alone costs a command ~70 ms of start-up. The plain types this CLI uses (str, int, float, bool,
  Enum choices, Path, lists of those) are coerced here with typer's own pydantic-free helpers and
  the same rules (ranges, choices); anything else still goes through typer's adapter.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

from typer._click import Context
from typer._click.core import Parameter
from typer._click.decorators import help_option
from typer._click.exceptions import BadParameter
from typer._coercion import RuntimeParam, build_runtime_param, resolve_type_descriptor
from typer._param_types import coerce_cli_choice, coerce_cli_path
from typer.core import TyperArgument, TyperGroup, TyperOption
from typer.main import Typer
from typer.models import OptionInfo

from iotcli.cli.options import GLOBAL_OPTIONS

GLOBAL_EPILOG = (
    "The global options (--profile --server --user --token --json -v) go here too, "
    "and so does --ca-file; see: iotcli --help"
)
HELP_NAMES = ("-h", "--help")  # the root's context_settings, inherited by every command
_PREFIX = "global_"


def _declared(alias: Any) -> tuple[tuple[str, ...], str, str]:
    """An ``Annotated[T, typer.Option("--name", "-n", ...)]`` alias's (option strings, kind, help)."""
    annotation, info = get_args(alias)[:2]
    # In an Annotated alias the first option string sits in ``default`` (typer moves it, see typer.utils).
    decls = ((info.default,) if isinstance(info.default, str) else ()) + tuple(info.param_decls or ())
    kind = "count" if info.count else ("flag" if annotation is bool else "str")
    return decls, kind, str(info.help)


#: name -> (option strings, kind, help): the root callback's options (options.py, declared there once).
GLOBALS: dict[str, tuple[tuple[str, ...], str, str]] = {
    name: _declared(alias) for name, alias in GLOBAL_OPTIONS.items()
}

#: ``populate(..., ROOT_ONLY)``: the root with a placeholder per command (its summary): ``iotcli --help``.
ROOT_ONLY = "(root)"
#: Root options that take a value (the command's name comes after them).
ROOT_VALUE_OPTIONS = frozenset(d for decls, kind, _h in GLOBALS.values() if kind == "str" for d in decls)

_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off", ""})


def populate(
    app: Typer, commands: Mapping[str, str], summaries: Mapping[str, str], only: str | None
) -> Typer:
    """Register on the root ``app`` the groups of ``commands`` (name -> module ``iotcli.cli.<module>``
    with a ``register(app)``): only ``only``'s module when it names a command, placeholders with
    ``summaries`` for ``ROOT_ONLY``, else every module in order."""
    if only == ROOT_ONLY:
        for name in commands:
            app.command(name, help=summaries.get(name, ""), add_help_option=False)(_placeholder)
        return app
    modules = (
        [commands[only]] if only is not None and only in commands else list(dict.fromkeys(commands.values()))
    )
    for module in modules:
        importlib.import_module(f"iotcli.cli.{module}").register(app)
    return app


def command_name(argv: Sequence[str]) -> str | None:
    """The top-level command of ``iotcli ARGV`` (after the root options), or None when the root itself
    answers (``--help``, ``--version``, no command)."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-h", "--help", "--version"):
            return None
        if arg in ROOT_VALUE_OPTIONS:
            i += 2
        elif arg.startswith("-"):
            i += 1
        else:
            return arg
    return None


def tree_for(argv: Sequence[str], build: Callable[[str | None], Typer]) -> Typer:
    """The tree that runs ``iotcli ARGV``: only its command's group when that is known; for the root's
    own answers (``--help``, no command) the root with each command's summary; else all."""
    if any(key.startswith("_IOTCLI_COMPLETE") for key in os.environ):
        return build(None)  # shell completion walks the whole tree
    name = command_name(argv)
    return build(ROOT_ONLY if name is None else name)


def _placeholder() -> None:
    """Stands for a command in ``iotcli --help``; never runs (a command name builds the real tree)."""
    raise AssertionError("placeholder command invoked")  # pragma: no cover


# -- adjusting the tree typer built ----------------------------------------------------------------------


def prepare_tree(root: TyperGroup) -> None:
    """Adjust every parameter of the tree under ``root`` (idempotent) and add the global options."""
    for command in [root, *_walk(root)]:
        # Plain help and usage errors everywhere: typer's rich help imports ~90 ms of rich and
        # markdown-it, more than a command's whole budget (and its panels wrap one-line errors in boxes).
        command.rich_markup_mode = None
        command.help = keep_line_breaks(command.help)
        if command is not root:
            _add_globals(command)
        _add_help_option(command)
        lighten(command)


def _walk(group: TyperGroup) -> list[Any]:
    out: list[Any] = []
    for command in group.commands.values():
        out.append(command)
        if isinstance(command, TyperGroup):
            out.extend(_walk(command))
    return out


def _add_globals(command: Any) -> None:
    taken = {s for p in command.params for s in (*p.opts, *p.secondary_opts)}
    names = {p.name for p in command.params}
    added = False
    for name, (decls, kind, help_text) in GLOBALS.items():
        free = [d for d in decls if d not in taken]
        if not free or _PREFIX + name in names:
            continue
        option = TyperOption(
            param_decls=[_PREFIX + name, *free],
            type_descriptor=resolve_type_descriptor(
                annotation=str if kind == "str" else (bool if kind == "flag" else int),
                parameter_info=OptionInfo(),
            ),
            default=None if kind == "str" else (False if kind == "flag" else 0),
            is_flag=True if kind == "flag" else None,
            count=kind == "count",
            expose_value=False,
            callback=_apply_global,
            help=help_text,
            show_default=False,
            hidden=True,  # listed once, in `iotcli --help`; the epilog says they apply
        )
        _lighten_param(option)
        command.params.append(option)
        added = True
    if added and not command.epilog:
        command.epilog = GLOBAL_EPILOG


def keep_line_breaks(text: str | None) -> str | None:
    """Mark each paragraph of several lines (an example block) so that click's help formatter keeps
    its lines as written instead of re-wrapping them into one."""
    if not text:
        return text
    paragraphs = text.split("\n\n")
    marked = [p if "\n" not in p.strip("\n") or p.startswith("\b") else "\b\n" + p for p in paragraphs]
    return "\n\n".join(marked)


def _add_help_option(command: Any) -> None:
    """Made now (click makes it on first use) so that it too shows no ``<bool>``."""
    taken = {s for p in command.params for s in (*p.opts, *p.secondary_opts)}
    names = [n for n in HELP_NAMES if n not in taken]
    if command._help_option is None and names and command.add_help_option:
        help_option(names)(command)
        command._help_option = command.params.pop()
        _lighten_param(command._help_option)


def _apply_global(ctx: Context, param: Parameter, value: Any) -> None:
    """A global option given after a command name: the same effect as before it (the later wins)."""
    if ctx.resilient_parsing or value in (None, False, 0) or not param.name:
        return
    from iotcli.cli.state import get_state

    state = get_state(ctx)
    name = param.name[len(_PREFIX) :]
    if name == "verbose":
        state.opts.verbose += int(value)
        state.out.verbose = state.opts.verbose
    elif name == "json":
        state.opts.json = True
        state.out.json_mode = True
    else:
        setattr(state.opts, name, value)


# -- help and coercion -------------------------------------------------------------------------------


class _LightOption(TyperOption):
    def display_type_rich(self, ctx: Context) -> str | None:
        if self.is_flag or self.count:
            return None
        return super().display_type_rich(ctx)

    def get_runtime_param(self) -> RuntimeParam:
        return _runtime_param(self)


class _LightArgument(TyperArgument):
    def get_runtime_param(self) -> RuntimeParam:
        return _runtime_param(self)


def lighten(command: Any) -> None:
    """Give each typer parameter of ``command`` the help display and coercion of this module."""
    for param in command.params:
        _lighten_param(param)


def _lighten_param(param: Any) -> None:
    if type(param) is TyperOption:
        param.__class__ = _LightOption
    elif type(param) is TyperArgument:
        param.__class__ = _LightArgument


def _runtime_param(param: Any) -> RuntimeParam:
    if param._runtime_param is None:
        desc = param.type_descriptor
        args = {"annotation": desc.annotation, "parameter_info": desc.parameter_info}
        if _is_plain(desc.annotation, desc.parameter_info) and desc.file_annotation is None:
            param._runtime_param = _PlainRuntimeParam(**args)
        else:
            param._runtime_param = build_runtime_param(desc)
    runtime: RuntimeParam = param._runtime_param
    return runtime


def _is_plain(annotation: Any, info: Any) -> bool:
    if info.parser is not None:
        return False
    if get_origin(annotation) is list:
        (annotation,) = get_args(annotation)
    if annotation in (str, int, float, bool) or annotation is Path:
        return True
    return isinstance(annotation, type) and issubclass(annotation, Enum)


class _PlainRuntimeParam(RuntimeParam):
    """typer's coercion rules for the plain types, without building a pydantic adapter."""

    def _coerce_value(self, value: Any, param: Any, ctx: Context) -> Any:
        annotation = self.annotation
        if get_origin(annotation) is list:
            (item_type,) = get_args(annotation)
            items = value if isinstance(value, list | tuple) else [value]
            return [self._one(item, item_type, param, ctx) for item in items]
        return self._one(value, annotation, param, ctx)

    def _one(self, value: Any, annotation: Any, param: Any, ctx: Context) -> Any:
        info = self.parameter_info
        try:
            if annotation is str:
                return value if isinstance(value, str) else str(value)
            if annotation is bool:
                return _to_bool(value)
            if annotation in (int, float):
                return _number(annotation, value, info)
            if annotation is Path:
                path = value if isinstance(value, Path) else Path(value)
                return coerce_cli_path(path, info, path_type=Path, param=param, ctx=ctx)
            return coerce_cli_choice(
                value, choices=list(annotation), case_sensitive=info.case_sensitive, ctx=ctx
            )
        except ValueError as exc:
            raise BadParameter(str(exc), ctx=ctx, param=param) from None


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{value!r} is not a valid boolean")


def _number(kind: type, value: Any, info: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        text = str(value).strip()
        try:
            value = kind(text)
        except ValueError:
            name = "integer" if kind is int else "number"
            raise ValueError(f"{text!r} is not a valid {name}") from None
    elif kind is int and isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{value!r} is not a valid integer")
        value = int(value)
    low, high = info.min, info.max
    if info.clamp:
        if low is not None and value < low:
            return kind(low)
        if high is not None and value > high:
            return kind(high)
        return value
    if low is not None and value < low:
        raise ValueError(f"{value} is not in the range x>={low}")
    if high is not None and value > high:
        raise ValueError(f"{value} is not in the range x<={high}")
    return value
