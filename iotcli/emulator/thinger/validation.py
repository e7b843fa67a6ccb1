"""Request bodies checked by the real Thinger server's own request schemas.

The schemas come from ``iotcli/data/thinger-openapi.json`` (the server's OpenAPI 3.1 document). Each
operation's validator is compiled once, on first use, with ``#/components/schemas/...`` references
resolved against the whole document. A rejected body becomes a 400 whose message names the field.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, relevance
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from iotcli.emulator.ecma import python_document as ecma
from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.jsonwords import json_type, missing_property

DOC_URI = "urn:iotcli:thinger-openapi"


@cache
def document() -> dict[str, Any]:
    text = resources.files("iotcli").joinpath("data/thinger-openapi.json").read_text(encoding="utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc


@cache
def _registry() -> Registry:
    resource: Resource[Any] = Resource.from_contents(ecma(document()), default_specification=DRAFT202012)
    return Registry().with_resource(DOC_URI, resource)


def _pointer_part(text: str) -> str:
    return text.replace("~", "~0").replace("/", "~1")


def operation(method: str, path: str) -> dict[str, Any]:
    """The real server's operation object for ``method`` + ``path`` (as the document spells the path)."""
    op: dict[str, Any] = document()["paths"][path][method.lower()]
    return op


def request_schema(method: str, path: str) -> dict[str, Any]:
    """The JSON Schema of the request body of an operation (refs point at ``#/components/schemas``)."""
    schema: dict[str, Any] = operation(method, path)["requestBody"]["content"]["application/json"]["schema"]
    return schema


def request_examples(method: str, path: str) -> dict[str, Any]:
    """The request examples the document carries for an operation (name -> value)."""
    content = operation(method, path).get("requestBody", {}).get("content", {}).get("application/json", {})
    return {name: ex["value"] for name, ex in content.get("examples", {}).items()}


@cache
def validator(method: str, path: str) -> Draft202012Validator:
    """A compiled validator for the request body of an operation (cached: compiled once per process)."""
    pointer = "/".join(
        _pointer_part(p)
        for p in ("paths", path, method.lower(), "requestBody", "content", "application/json", "schema")
    )
    return Draft202012Validator({"$ref": f"{DOC_URI}#/{pointer}"}, registry=_registry())


def validate(method: str, path: str, body: Any) -> None:
    """Raise a 400 naming the field when the real server's schema rejects ``body``."""
    error = _most_relevant(list(validator(method, path).iter_errors(body)))
    if error is not None:
        raise ApiProblem(400, describe(error))


def _most_relevant(errors: list[ValidationError]) -> ValidationError | None:
    # Not ``best_match``: it descends into oneOf branches by its own rule; ``_one_of`` picks the branch.
    return max(errors, key=relevance) if errors else None


def _discriminated_out(errors: list[ValidationError]) -> bool:
    """A ``oneOf`` branch is another form when the instance has the wrong type for it, or a
    discriminating field (``type``, ``source``: an enum or const one level down) names another form."""
    for e in errors:
        depth = len(e.relative_path)
        if e.validator == "type" and depth == 0:
            return True
        if e.validator in ("enum", "const") and depth == 1:
            return True
    return False


def _one_of(error: ValidationError) -> str:
    """Explain a ``oneOf`` failure by the branch the body was evidently meant for."""
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context or []:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    candidates = [errs for errs in branches.values() if not _discriminated_out(errs)]
    if candidates:
        errs = min(candidates, key=len)
        best = _most_relevant(errs)
        return describe(best) if best is not None else str(error.message)
    where = _field(error.absolute_path)
    # Every branch is another form: list what the discriminating field may be.
    allowed: list[Any] = []
    field_name: str | None = None
    types: list[str] = []
    for errs in branches.values():
        for e in errs:
            if e.validator in ("enum", "const") and len(e.relative_path) == 1:
                field_name = str(e.relative_path[0])
                values = e.validator_value if e.validator == "enum" else [e.validator_value]
                allowed += [v for v in values if v not in allowed]
            elif e.validator == "type" and not e.relative_path:
                value = e.validator_value
                types += [t for t in (value if isinstance(value, list) else [value]) if t not in types]
    if field_name is not None and not types:
        full = f"{where}.{field_name}" if where else field_name
        instance = error.instance.get(field_name) if isinstance(error.instance, dict) else None
        options = ", ".join(json.dumps(v) for v in allowed)
        return f"field '{full}' must be one of {options}, not {json.dumps(instance)[:64]}"
    prefix = f"field '{where}'" if where else "request body"
    if types:
        return (
            f"{prefix} must be of type {' or '.join(types)}, not {json_type(error.instance, integers=True)}"
        )
    return f"{prefix} does not match any allowed form"


def _field(path: Any) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else str(p) for p in path]
    text = ""
    for part in parts:
        text += part if part.startswith("[") or not text else "." + part
    return text


def describe(error: ValidationError) -> str:
    """One line naming the field and what is wrong with it."""
    where = _field(error.absolute_path)
    prefix = f"field '{where}'" if where else "request body"
    validator_name = error.validator
    if validator_name == "required":
        missing = missing_property(error, str(error.message))
        full = f"{where}.{missing}" if where else missing
        return f"missing required field '{full}'"
    if validator_name == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        name = extra[0] if extra else "?"
        full = f"{where}.{name}" if where else name
        return f"unknown field '{full}'"
    if validator_name == "type":
        return f"{prefix} must be of type {_types(error.validator_value)}, not {json_type(error.instance, integers=True)}"
    if validator_name == "pattern":
        return f"{prefix} '{_short(error.instance)}' does not match {error.validator_value}"
    if validator_name == "enum":
        options = ", ".join(json.dumps(v) for v in error.validator_value)
        return f"{prefix} must be one of {options}, not {json.dumps(error.instance)[:64]}"
    if validator_name in ("maxLength", "minLength"):
        return f"{prefix} must be {'at most' if validator_name == 'maxLength' else 'at least'} {error.validator_value} characters long"
    if validator_name in ("minimum", "maximum"):
        return f"{prefix} must be {'>=' if validator_name == 'minimum' else '<='} {error.validator_value}"
    if validator_name == "maxItems":
        return f"{prefix} must have at most {error.validator_value} items"
    if validator_name == "oneOf":
        return _one_of(error)
    return f"{prefix}: {error.message[:200]}"


def _types(value: Any) -> str:
    return " or ".join(value) if isinstance(value, list) else str(value)


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 64 else text[:61] + "..."
