"""``iotcli config show|set|use|list``: profiles in config.toml."""

from typing import Annotated

import typer

from iotcli.cli.state import get_state
from iotcli.config import (
    DEFAULT_PROFILE,
    DEFAULT_USER,
    IMPLICIT_PROFILES,
    PROFILE_KEYS,
    config_path,
    server_url_problem,
)
from iotcli.errors import UsageError

config_app = typer.Typer(help="Show and edit profiles (config.toml).", no_args_is_help=True)

SECRET_KEYS = {"token", "client_secret", "refresh_token"}
LOCAL_SERVER_TEXT = "(a local emulator, any port)"
LOCAL_TOKEN_TEXT = "(found automatically)"


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")


def mask(key: str, value: object) -> object:
    if key in SECRET_KEYS and isinstance(value, str) and value:
        return value[:4] + "…" if len(value) > 12 else "*****"
    return value


@config_app.command("show")
def show(
    reveal: Annotated[bool, typer.Option("--reveal", help="Show secrets in full.")] = False,
) -> None:
    """Show the settings in effect and where each comes from.

    Example:  iotcli config show
    """
    state = get_state()
    prof = state.profile
    opts = state.opts

    def source(flag: object, key: str) -> str:
        if flag:
            return "flag/env"
        if key in prof:
            return f"profile {state.profile_name}"
        return "default"

    token = state.token
    server_src = source(opts.server, "server")
    if server_src == "default" and state.discovered is not None:
        server_src = f"local emulator ({state.discovered.path})"
    token_src = source(opts.token, "token")
    if token and token_src == "default":
        token_src = "local emulator"
    ca_file = state.ca_file
    ca_src = source(opts.ca_file, "ca_file")
    if ca_file and ca_src == "default":
        ca_src = "local emulator (emulate --tls)"
    data = {
        "config_file": str(config_path()),
        "profile": state.profile_name,
        "server": state.server,
        "server_source": server_src,
        "user": state.user,
        "user_source": source(opts.user, "user"),
        "token": (token if reveal else mask("token", token)) if token else None,
        "token_source": token_src if token else None,
        "ca_file": ca_file,
        "ca_source": ca_src if ca_file else None,
    }
    state.out.data(data)


@config_app.command("set")
def set_(
    key: Annotated[str, typer.Argument(help="One of: " + ", ".join(PROFILE_KEYS))],
    value: Annotated[str, typer.Argument(help="The value; '' removes the key.")],
) -> None:
    """Set a key in a profile (the active one, or --profile NAME, created if new).

    Examples:
      iotcli config set server https://acme.aws.thinger.io --profile cloud
      iotcli config set user acme --profile cloud
    """
    state = get_state()
    if key not in PROFILE_KEYS:
        raise UsageError(f"unknown key '{key}'", hint="keys: " + ", ".join(PROFILE_KEYS))
    cfg = state.config
    name = state.profile_name
    prof = cfg.profiles.setdefault(name, {})
    if value == "":
        prof.pop(key, None)
    elif key == "timeout":
        try:
            seconds = float(value)
        except ValueError:
            raise UsageError(f"timeout must be a number of seconds, got '{value}'") from None
        if seconds <= 0:
            raise UsageError("timeout must be positive")
        prof[key] = seconds
    else:
        problem = server_url_problem(value) if key == "server" else None
        if problem:
            raise UsageError(f"server URL '{value}' {problem}")
        prof[key] = value
    cfg.save()
    state.out.success(f"profile '{name}': {key} = {mask(key, value) if value else '(removed)'}  ({cfg.path})")
    if state.out.json_mode:
        state.out.json({"data": {"profile": name, "key": key, "value": mask(key, value)}})


@config_app.command("use")
def use(name: Annotated[str, typer.Argument(help="Profile to make active.")]) -> None:
    """Make a profile the active one; "default" (or "local") is the implicit local-emulator profile.

    Examples:
      iotcli config use cloud
      iotcli config use local
    """
    state = get_state()
    cfg = state.config
    if name in IMPLICIT_PROFILES and name not in cfg.profiles:
        cfg.active = None  # back to the implicit local profile
        shown = f"{DEFAULT_PROFILE} (the local emulator, found automatically)"
    else:
        cfg.profile(name)  # must exist
        cfg.active = None if name == DEFAULT_PROFILE else name
        shown = name
    cfg.save()
    state.out.success(f"active profile: {shown}")
    if state.out.json_mode:
        state.out.json({"data": {"active": cfg.active or DEFAULT_PROFILE}})


@config_app.command("list")
def list_() -> None:
    """List profiles.

    The implicit profile "default" (alias "local") is listed even when the file has no entry for
    it: the local emulator, found on this machine. `iotcli config use default` returns to it.

    Example:  iotcli config list
    """
    state = get_state()
    cfg = state.config
    active = cfg.active or DEFAULT_PROFILE
    rows = [
        {
            "name": name,
            "active": name == active,
            "server": p.get("server"),
            "user": p.get("user"),
            "token": mask("token", p.get("token")) if p.get("token") else None,
        }
        for name, p in sorted(cfg.profiles.items())
    ]
    if DEFAULT_PROFILE not in cfg.profiles:
        # The implicit profile: no entry in the file, the local emulator found on this machine.
        implicit = {"name": DEFAULT_PROFILE, "active": active in IMPLICIT_PROFILES}
        implicit.update(server=LOCAL_SERVER_TEXT, user=DEFAULT_USER, token=LOCAL_TOKEN_TEXT, implicit=True)
        rows.insert(0, implicit)
    state.out.data(
        rows,
        columns=[
            ("name", "PROFILE"),
            ("active", "ACTIVE"),
            ("server", "SERVER"),
            ("user", "USER"),
            ("token", "TOKEN"),
        ],
    )
