"""Option bundles: a set of options declared once, as a dataclass, and taken by several commands.

Each field of a bundle is a command-line parameter (``Annotated[T, typer.Option(...)]`` with its
default); ``@takes(flags=Bundle)`` makes the command's parameter ``flags: Bundle`` stand for all of
them: typer sees each field as a parameter of the command (same names, order, help), and the
command receives one ``Bundle`` instance. The same dataclass is what the code behind the command
reads (``send-uplink``'s plan, a connection's configuration), so an option is declared in one place
only. ``skip`` leaves some fields out of one command (their defaults apply).
"""

import dataclasses
import functools
import inspect
from collections.abc import Callable, Collection
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def takes(skip: Collection[str] = (), **bundles: type) -> Callable[[F], F]:
    """Expand each ``name=Bundle`` parameter of the decorated command into the bundle's fields."""

    def decorate(func: F) -> F:
        signature = inspect.signature(func)
        params: list[inspect.Parameter] = []
        fields_of: dict[str, list[str]] = {}
        for param in signature.parameters.values():
            bundle = bundles.get(param.name)
            if bundle is None:
                params.append(param)
                continue
            fields_of[param.name] = []
            for field in dataclasses.fields(bundle):
                if field.name in skip or not field.init:
                    continue
                fields_of[param.name].append(field.name)
                params.append(
                    inspect.Parameter(
                        field.name,
                        inspect.Parameter.POSITIONAL_OR_KEYWORD,
                        default=_default(field),
                        annotation=field.type,
                    )
                )
        names = [p.name for p in params]
        if len(set(names)) != len(names):
            raise TypeError(f"{func.__name__}: a bundle field repeats a parameter name ({names})")

        @functools.wraps(func)
        def command(**kwargs: Any) -> Any:
            for name, bundle in bundles.items():
                kwargs[name] = bundle(**{f: kwargs.pop(f) for f in fields_of[name]})
            return func(**kwargs)

        command.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command  # type: ignore[return-value]

    return decorate


def _default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return inspect.Parameter.empty
