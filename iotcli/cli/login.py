"""``iotcli login``: get a token and keep it in the profile."""

from typing import Annotated

import typer

from iotcli.cli.state import Environment, get_state
from iotcli.errors import UsageError


def register(app: typer.Typer) -> None:
    app.command("login")(login)


def login(
    username: Annotated[str | None, typer.Option("--username", help="Login name [default: --user].")] = None,
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            envvar="IOTCLI_PASSWORD",
            help="Password (prompted, never echoed, when omitted).",
            show_default=False,
        ),
    ] = None,
    client_id: Annotated[str | None, typer.Option("--client-id", help="IoT Flow client id.")] = None,
    client_secret: Annotated[
        str | None,
        typer.Option(
            "--client-secret",
            envvar="IOTCLI_CLIENT_SECRET",
            help="IoT Flow client secret.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Log in and store the token in the profile.

    Thinger-style servers: password grant at /oauth/token. IoT Flow-style servers: pass --client-id
    and --client-secret for the client-credentials grant; expired tokens are then renewed for you.
    Against the emulator the password (or client secret) is the account token shown in its banner.

    Examples:
      iotcli --server https://acme.aws.thinger.io --profile cloud login --username acme
      iotcli --profile flow --server https://flow.example login --client-id acme --client-secret ...
    """
    state = get_state()
    name = state.profile_name
    cfg = state.config
    prof = cfg.profiles.setdefault(name, {})
    server = state.server
    from iotcli.client.api import ApiClient, make_http_client

    with make_http_client(
        server, timeout=state.timeout, transport=Environment.transport, ca_file=state.ca_file
    ) as http:
        api = ApiClient(http, user=state.user)
        if client_id or client_secret:
            if not (client_id and client_secret):
                raise UsageError("--client-id and --client-secret go together")
            answer = api.client_credentials_login(client_id, client_secret)
            prof["client_id"] = client_id
            prof["client_secret"] = client_secret
            prof.pop("refresh_token", None)
            user = state.opts.user or prof.get("user") or client_id
        else:
            user = username or state.user
            if password is None:
                password = typer.prompt(f"Password for {user} at {server}", hide_input=True)
            answer = api.password_login(user, password)
            # Kept so that an expired access token (7200 s) is renewed without asking again.
            refresh = answer.get("refresh_token") if isinstance(answer, dict) else None
            if isinstance(refresh, str) and refresh:
                prof["refresh_token"] = refresh
            else:
                prof.pop("refresh_token", None)
    token = answer.get("access_token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token:
        raise UsageError("the server's answer holds no access_token")
    prof["server"] = server
    prof["user"] = str(user)
    prof["token"] = token
    cfg.save()
    state.out.success(f"logged in to {server} as {user}; token saved in profile '{name}' ({cfg.path})")
    if state.out.json_mode:
        state.out.json(
            {
                "data": {
                    "profile": name,
                    "server": server,
                    "user": user,
                    "expires_in": answer.get("expires_in"),
                }
            }
        )
