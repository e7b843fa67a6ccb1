"""What every command shares: the resolved global options, the config, the output and the API client.

Precedence for server, user and token: flag > env (IOTCLI_*) > profile > default. With nothing
configured, the CLI targets the local emulator and finds its account token on this machine.
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import TYPE_CHECKING, Any

from typer._click import Context
from typer._click.globals import get_current_context

from iotcli.cli.output import Output
from iotcli.config import (
    DEFAULT_PROFILE,
    DEFAULT_SERVER,
    DEFAULT_USER,
    IMPLICIT_PROFILES,
    ConfigFile,
    find_local_emulator_token,
    local_emulator_ca,
    running_emulators,
    server_url_problem,
)
from iotcli.errors import ConfigError, UsageError

if TYPE_CHECKING:
    import httpx

    from iotcli.client.api import ApiClient
    from iotcli.config import RunningEmulator


class Environment:
    """What tests replace: the HTTP transport every API client of the CLI uses (None = the network)."""

    transport: httpx.BaseTransport | None = None  # noqa: UP037


class GlobalOptions:
    """The root's options (before or after the command). A plain class, not a dataclass: every command
    makes one, and a dataclass costs ~0.5 ms of start-up to create."""

    def __init__(
        self,
        profile: str | None = None,
        server: str | None = None,
        user: str | None = None,
        token: str | None = None,
        ca_file: str | None = None,
        json: bool = False,
        verbose: int = 0,
    ) -> None:
        self.profile = profile
        self.server = server
        self.user = user
        self.token = token
        self.ca_file = ca_file
        self.json = json
        self.verbose = verbose

    def __repr__(self) -> str:
        shown = {k: v for k, v in vars(self).items() if k != "token" and v not in (None, False, 0)}
        return f"GlobalOptions({shown})"


class CliState:
    def __init__(self, opts: GlobalOptions, output: Output | None = None) -> None:
        self.opts = opts
        self.out = output or Output(json_mode=opts.json, verbose=opts.verbose)
        self._client: ApiClient | None = None
        #: The running local emulator chosen when no server is configured (``local_server``).
        self.discovered: RunningEmulator | None = None

    @cached_property
    def config(self) -> ConfigFile:
        return ConfigFile.load()

    @property
    def profile_name(self) -> str:
        return self.opts.profile or self.config.active or DEFAULT_PROFILE

    @cached_property
    def profile(self) -> dict[str, Any]:
        # A profile named by --profile/IOTCLI_PROFILE or made active must exist, except the implicit
        # local one ("default", alias "local"): absent from the file, defaults apply (the local emulator).
        name = self.profile_name
        explicit = bool(self.opts.profile or self.config.active) and name not in IMPLICIT_PROFILES
        return self.config.profile(name, must_exist=explicit)

    @property
    def server(self) -> str:
        server = self.opts.server or self.profile.get("server") or self.local_server
        problem = server_url_problem(str(server))
        if problem:
            raise UsageError(f"server URL '{server}' {problem}")
        return str(server).rstrip("/")

    @cached_property
    def local_server(self) -> str:
        """With no server configured: a running local emulator, on whatever port; else the default URL.

        With several running, the one on the default port wins, else the newest; a note on stderr
        says which and how to pick another.
        """
        found = running_emulators()
        if not found:
            return DEFAULT_SERVER
        chosen = self.discovered = found[0]
        if len(found) > 1:
            others = ", ".join(e.url for e in found[1:])
            self.out.info(
                f"note: {len(found)} local emulators run; using {chosen.url} (also: {others}); "
                "pick one with --server URL or IOTCLI_SERVER"
            )
        return chosen.url

    @property
    def user(self) -> str:
        return str(self.opts.user or self.profile.get("user") or DEFAULT_USER)

    @property
    def token(self) -> str | None:
        token = self.opts.token or self.profile.get("token")
        if token:
            return str(token)
        return find_local_emulator_token(self.server, self.user)

    @property
    def ca_file(self) -> str | None:
        """The CA file that https servers must chain to: --ca-file / IOTCLI_CA_FILE, the profile's
        ``ca_file``, else the CA of a local ``iotcli emulate --tls`` serving this server's port."""
        given = self.opts.ca_file or self.profile.get("ca_file")
        if given:
            return str(given)
        return local_emulator_ca(self.server)

    def ca_file_for(self, url: str) -> str | None:
        """The CA file an https ``url`` must chain to (send-uplink, fleet run): ``ca_file`` for a URL on
        the profile's server; for another one --ca-file / IOTCLI_CA_FILE, else the CA of a local
        ``iotcli emulate --tls`` at that URL. None: plain http, or the system's CAs. A CA file that
        does not exist is a ConfigError."""
        if not url.startswith("https://"):
            return None
        server = self.server.rstrip("/")
        same_server = url.rstrip("/") == server or url.startswith(server + "/")
        ca = self.ca_file if same_server else self.opts.ca_file or local_emulator_ca(url)
        if ca and not os.path.isfile(ca):
            raise ConfigError(
                f"the CA file {ca} does not exist", hint="check --ca-file / IOTCLI_CA_FILE / the profile"
            )
        return ca

    @property
    def timeout(self) -> float:
        return float(self.profile.get("timeout", 10.0))

    def client(self) -> ApiClient:
        """The API client for this invocation (built once)."""
        if self._client is None:
            from iotcli.client.api import ApiClient, make_http_client

            refresher = None
            if self.profile.get("client_id") and self.profile.get("client_secret") and not self.opts.token:
                refresher = self._refresh_iotflow_token
            elif self.profile.get("refresh_token") and not self.opts.token:
                refresher = self._refresh_thinger_token
            self._client = ApiClient(
                make_http_client(
                    self.server, timeout=self.timeout, transport=Environment.transport, ca_file=self.ca_file
                ),
                user=self.user,
                token=self.token,
                token_refresher=refresher,
            )
        return self._client

    def require_token(self) -> str:
        token = self.token
        if not token:
            raise ConfigError(
                f"no token for {self.server} (profile '{self.profile_name}')",
                hint="run `iotcli login`, pass --token, or set IOTCLI_TOKEN",
            )
        return token

    def _refresh_thinger_token(self) -> str:
        """Renew an expired Thinger access token with the profile's refresh token (it rotates: both kept)."""
        from iotcli.client.api import ApiClient, make_http_client

        with make_http_client(
            self.server, timeout=self.timeout, transport=Environment.transport, ca_file=self.ca_file
        ) as http:
            answer = ApiClient(http, user=self.user).refresh_login(str(self.profile["refresh_token"]))
        prof = self.config.profiles.setdefault(self.profile_name, {})
        prof["token"] = token = str(answer["access_token"])
        if isinstance(answer.get("refresh_token"), str):
            prof["refresh_token"] = answer["refresh_token"]
        self.config.save()
        return token

    def _refresh_iotflow_token(self) -> str:
        """Renew an expired IoT Flow token with the profile's client credentials, and keep it."""
        from iotcli.client.api import ApiClient, make_http_client

        with make_http_client(
            self.server, timeout=self.timeout, transport=Environment.transport, ca_file=self.ca_file
        ) as http:
            answer = ApiClient(http, user=self.user).client_credentials_login(
                str(self.profile["client_id"]), str(self.profile["client_secret"])
            )
        token = str(answer["access_token"])
        self.config.profiles.setdefault(self.profile_name, {})["token"] = token
        self.config.save()
        return token


def get_state(ctx: Context | None = None) -> CliState:
    """The CliState of the running command (typer vendors click, hence its context helper)."""
    ctx = ctx or get_current_context()
    root = ctx.find_root()
    state = root.obj
    if not isinstance(state, CliState):
        state = CliState(GlobalOptions())
        root.obj = state
    return state
