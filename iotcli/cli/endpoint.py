"""``iotcli endpoint ...``: HTTP request endpoints the platform calls with device data ({{field}} placeholders)."""

import json
from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated, Any

import typer

from iotcli.cli.resources import YesOpt, check_id, confirm, done, parse_json, show, show_rows
from iotcli.cli.state import get_state
from iotcli.errors import UsageError

endpoint_app = typer.Typer(
    help="Endpoints: HTTP requests the platform makes with device data ({{field}} placeholders).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(endpoint_app, name="endpoint")


class Method(StrEnum):
    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"


class BodyType(StrEnum):
    json = "json"
    custom = "custom"


EndpointArg = Annotated[str, typer.Argument(help="Endpoint id.", show_default=False)]


def parse_headers(items: Sequence[str]) -> list[dict[str, str]]:
    headers = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(
                f"--header '{item}' must look like KEY=VALUE", hint="e.g. --header 'X-Api-Key={{key}}'"
            )
        headers.append({"key": key.strip(), "value": value})
    return headers


@endpoint_app.command("create")
def endpoint_create(
    endpoint: EndpointArg,
    url: Annotated[
        str,
        typer.Option(
            "--url",
            help="Target URL (or sink:NAME for an emulator sink); {{field}} is replaced by the data's field.",
        ),
    ],
    method: Annotated[Method, typer.Option("--method", "-X", help="HTTP method.")] = Method.POST,
    header: Annotated[
        list[str] | None,
        typer.Option("--header", "-H", help="KEY=VALUE, repeatable; values may use {{field}}."),
    ] = None,
    body: Annotated[
        str | None, typer.Option("--body", help="Custom body template, e.g. '{\"t\": {{temperature}}}'.")
    ] = None,
    body_type: Annotated[
        BodyType | None,
        typer.Option(
            "--body-type",
            help="json: send the data as JSON; custom: send --body [default: json, custom with --body].",
        ),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Display name.")] = None,
    description: Annotated[str | None, typer.Option("--description", help="Free text.")] = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Create it disabled.")] = False,
) -> None:
    """Create an HTTP request endpoint (type http_request).

    Example:
      iotcli endpoint create notify --url 'https://example.com/hook/{{device}}' -H 'X-Key=s3cr3t' \\
        --body '{"t": {{temperature}}}' --body-type custom
    """
    state = get_state()
    check_id(endpoint, "endpoint")
    if url.startswith("sink:"):  # an emulator sink: its URL, asked of the server
        url = state.client().resolve_sink_url(url)
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"--url '{url}' must start with http:// or https://")
    kind = body_type or (BodyType.custom if body is not None else BodyType.json)
    if kind is BodyType.custom and body is None:
        raise UsageError("--body-type custom needs --body TEMPLATE")
    config: dict[str, Any] = {
        "url": url,
        "method": method.value,
        "headers": parse_headers(header or []),
        "body_type": kind.value,
    }
    if body is not None:
        config["body"] = body
    payload: dict[str, Any] = {
        "endpoint": endpoint,
        "type": "http_request",
        "enabled": not disabled,
        "config": config,
    }
    if name is not None:
        payload["name"] = name
    if description is not None:
        payload["description"] = description
    created = state.client().create_endpoint(payload)
    done(state, f"endpoint '{endpoint}' created", created)


@endpoint_app.command("list")
def endpoint_list() -> None:
    """List endpoints.

    Example:  iotcli endpoint list
    """
    state = get_state()
    show_rows(
        state,
        state.client().list_endpoints(),
        [
            ("endpoint", "ENDPOINT"),
            ("name", "NAME"),
            ("type", "TYPE"),
            ("config.method", "METHOD"),
            ("config.url", "URL"),
            ("enabled", "ENABLED"),
        ],
        empty="no endpoints yet: iotcli endpoint create ID --url URL",
    )


@endpoint_app.command("show")
def endpoint_show(endpoint: EndpointArg) -> None:
    """Show one endpoint's settings.

    Example:  iotcli endpoint show notify
    """
    state = get_state()
    show(state, state.client().get_endpoint(check_id(endpoint, "endpoint")), ("created", "modified"))


@endpoint_app.command("delete")
def endpoint_delete(endpoint: EndpointArg, yes: YesOpt = False) -> None:
    """Delete an endpoint.

    Example:  iotcli endpoint delete notify --yes
    """
    state = get_state()
    check_id(endpoint, "endpoint")
    confirm(state, f"Delete endpoint '{endpoint}'?", yes, what=f"endpoint '{endpoint}'")
    state.client().delete_endpoint(endpoint)
    done(state, f"endpoint '{endpoint}' deleted", {"endpoint": endpoint, "deleted": True})


@endpoint_app.command("call")
def endpoint_call(
    endpoint: EndpointArg,
    data: Annotated[
        str | None, typer.Option("--data", "-d", help="The data (JSON) the placeholders are filled from.")
    ] = None,
) -> None:
    """Call an endpoint now with some data and show the target's answer.

    Example:  iotcli endpoint call notify --data '{"device": "sensor-1", "temperature": 21.5}'
    """
    state = get_state()
    check_id(endpoint, "endpoint")
    payload = parse_json(data, "--data") if data is not None else {}
    answer = state.client().call_endpoint(endpoint, payload)
    if state.out.json_mode or not isinstance(answer, dict) or "status" not in answer:
        state.out.data(answer)
        return
    # status first, then whatever else the server tells (the emulator adds its delivery id), then the body
    head = {
        "status": answer.get("status"),
        **{k: v for k, v in answer.items() if k not in ("status", "body")},
    }
    state.out.data(head)
    body = answer.get("body")
    if body not in (None, ""):
        state.out.text(body if isinstance(body, str) else json.dumps(body, indent=2, ensure_ascii=False))
