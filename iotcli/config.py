"""Profiles in TOML, where they live, and how the CLI finds a local emulator without configuration.

The file is ``<user config dir>/iotcli/config.toml`` (``IOTCLI_CONFIG_DIR`` overrides the folder)::

    active = "cloud"

    [profiles.cloud]
    server = "https://acme.aws.thinger.io"
    user = "acme"
    token = "..."

It is read with tomllib and written with tomli_w, atomically (temp file + rename) and with mode 0600,
because it holds tokens.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from iotcli.errors import ConfigError

DEFAULT_SERVER = "http://127.0.0.1:8100"
DEFAULT_USER = "local"
DEFAULT_PROFILE = "default"
#: Names of the implicit local profile: it needs no entry in the file (then: the local emulator).
IMPLICIT_PROFILES = (DEFAULT_PROFILE, "local")
DEFAULT_PORT = 8100

#: Keys a profile may hold, with what each is for (shown by ``iotcli config set --help``).
PROFILE_KEYS: dict[str, str] = {
    "server": "base URL of the API, e.g. http://127.0.0.1:8100",
    "user": "account (user) name in the API paths",
    "token": "API token (Bearer)",
    "client_id": "IoT Flow client id (client-credentials login)",
    "client_secret": "IoT Flow client secret (client-credentials login)",
    "refresh_token": "Thinger refresh token (password login): renews an expired token",
    "timeout": "request timeout in seconds",
    "ca_file": "CA file (PEM) an https server's certificate must chain to (a private CA)",
}


def server_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a server URL (scheme, host, port), or None when it can."""
    if not url.startswith(("http://", "https://")):
        return "must start with http:// or https://"
    if any(ch.isspace() for ch in url):
        return "must not contain spaces"
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError for a port that is not a number or not in 0-65535
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if not parts.hostname:
        return "has no host name"
    if parts.netloc.endswith(":"):
        return "has an empty port (write host:PORT, or leave the ':' out)"
    if port == 0:
        return "has port 0"
    return None


def config_dir() -> Path:
    """The folder of config.toml: ``IOTCLI_CONFIG_DIR`` or the per-user config folder."""
    env = os.environ.get("IOTCLI_CONFIG_DIR")
    if env:
        return Path(env).expanduser()
    fast = _linux_user_dir("XDG_CONFIG_HOME", "~/.config")
    if fast is not None:
        return Path(fast)
    import platformdirs

    return Path(platformdirs.user_config_dir("iotcli", appauthor=False))


def data_dir() -> Path:
    """The per-user data folder of iotcli (``IOTCLI_DATA_DIR`` overrides)."""
    env = os.environ.get("IOTCLI_DATA_DIR")
    if env:
        return Path(env).expanduser()
    fast = _linux_user_dir("XDG_DATA_HOME", "~/.local/share")
    if fast is not None:
        return Path(fast)
    import platformdirs

    return Path(platformdirs.user_data_dir("iotcli", appauthor=False))


def _linux_user_dir(xdg_variable: str, default: str) -> str | None:
    """platformdirs' folder on Linux, without importing it (~3.4 ms of every command's start-up), or
    None: then platformdirs decides (other systems, Android, a relative HOME, no home at all).

    Its rule (platformdirs 4, ``Unix`` with ``appauthor=False``, no version, no ``use_site_for_root``):
    ``$XDG_...`` when that is an absolute path (unset, blank or relative: ignored), else ``default``
    under the home folder, then ``iotcli``. ``tests/test_config.py`` compares both in every case.
    """
    if not sys.platform.startswith("linux") or hasattr(sys, "getandroidapilevel"):
        return None
    if os.environ.get("ANDROID_DATA") == "/data" and os.environ.get("ANDROID_ROOT") == "/system":
        return None  # platformdirs may take this for an Android app
    base = os.environ.get(xdg_variable, "")
    if not os.path.isabs(base):
        home = os.environ.get("HOME")
        if home is not None and not os.path.isabs(home):
            return None
        base = os.path.expanduser(default)
        if not os.path.isabs(base):
            return None
    return os.path.join(base, "iotcli")


def default_emulator_dir() -> Path:
    """Where ``iotcli emulate`` keeps its SQLite state unless ``--data-dir`` says otherwise."""
    return data_dir() / "emulator"


def config_path() -> Path:
    return config_dir() / "config.toml"


class ConfigFile:
    """The parsed config.toml: the active profile's name and every profile's keys.

    (A plain class, not a dataclass: every command reads the config, and a dataclass costs ~0.4 ms of
    start-up to create.)
    """

    def __init__(
        self, path: Path, active: str | None = None, profiles: dict[str, dict[str, Any]] | None = None
    ) -> None:
        self.path = path
        self.active = active
        self.profiles: dict[str, dict[str, Any]] = {} if profiles is None else profiles

    def __repr__(self) -> str:
        return f"ConfigFile({str(self.path)!r}, active={self.active!r}, profiles={sorted(self.profiles)!r})"

    @classmethod
    def load(cls, path: Path | None = None) -> ConfigFile:
        """Read the file; a missing file is an empty config, a broken one a ConfigError naming it."""
        path = path or config_path()
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return cls(path=path)
        except OSError as exc:
            raise ConfigError(
                f"cannot read config file {path}: {exc.strerror or exc}",
                hint="check the file's permissions, or point IOTCLI_CONFIG_DIR elsewhere",
            ) from None
        import tomllib  # here, not at the top: `iotcli --help` and commands without a config file skip it

        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"config file {path} is not valid TOML: {exc}",
                hint="fix or delete the file; `iotcli config set` rewrites it",
            ) from None
        active = data.get("active")
        if active is not None and not isinstance(active, str):
            raise ConfigError(f"config file {path}: key 'active' must be a string")
        profiles = data.get("profiles", {})
        if not isinstance(profiles, dict):
            raise ConfigError(f"config file {path}: key 'profiles' must be a table of [profiles.NAME]")
        for name, prof in profiles.items():
            if not isinstance(prof, dict):
                raise ConfigError(f"config file {path}: key 'profiles.{name}' must be a table")
            for key, value in prof.items():
                if key not in PROFILE_KEYS:
                    raise ConfigError(
                        f"config file {path}: unknown key 'profiles.{name}.{key}'",
                        hint="known keys: " + ", ".join(PROFILE_KEYS),
                    )
                if key == "timeout":
                    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                        raise ConfigError(
                            f"config file {path}: key 'profiles.{name}.timeout' must be a positive number"
                        )
                elif not isinstance(value, str):
                    raise ConfigError(f"config file {path}: key 'profiles.{name}.{key}' must be a string")
        return cls(path=path, active=active, profiles={k: dict(v) for k, v in profiles.items()})

    def profile(self, name: str, *, must_exist: bool = True) -> dict[str, Any]:
        if name in self.profiles:
            return self.profiles[name]
        if must_exist:
            known = ", ".join(sorted(self.profiles)) or "none yet"
            raise ConfigError(
                f"unknown profile '{name}' in {self.path}",
                hint=f"profiles: {known}; create one with `iotcli config set KEY VALUE --profile {name}`",
            )
        return {}

    def save(self) -> None:
        """Write atomically with mode 0600: a crash leaves the old file or the new one, never half."""
        import tempfile

        import tomli_w

        data: dict[str, Any] = {}
        if self.active:
            data["active"] = self.active
        data["profiles"] = self.profiles
        private_dir(self.path.parent)
        fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".toml", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as fh:
                tomli_w.dump(data, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        os.chmod(self.path, 0o600)


# --- finding a local emulator -------------------------------------------------------------


def _is_loopback(host: str | None) -> bool:
    return host in {"127.0.0.1", "localhost", "::1"}


def discovery_dir() -> Path:
    """Running emulators announce themselves here, one JSON file per port.

    Each file is one JSON object: ``url``, ``user``, ``token``, ``pid``, ``data_dir`` today; readers
    ignore keys they do not know, so a writer may add more (a ``--tls`` emulator: its scheme in
    ``url`` and a CA file path).
    """
    return data_dir() / "running"


class RunningEmulator:
    """One announcement of a running ``iotcli emulate`` (its discovery file, parsed). (A plain class:
    see ``ConfigFile``.)"""

    def __init__(self, url: str, port: int, path: Path, started: float, info: dict[str, Any]) -> None:
        self.url = url
        self.port = port
        self.path = path
        self.started = started  # the file's modification time
        self.info = info

    def __repr__(self) -> str:
        return f"RunningEmulator({self.url!r}, pid={self.info.get('pid')!r})"


def running_emulators() -> list[RunningEmulator]:
    """The local emulators that announced themselves and still run, default port first, then newest.

    An announcement whose process is gone (killed, crashed) is skipped: its file stays, the next
    emulator on that port replaces it.
    """
    found: list[RunningEmulator] = []
    try:
        paths = sorted(discovery_dir().glob("*.json"))
    except OSError:
        return []
    for path in paths:
        try:
            info = json.loads(path.read_text())
            started = path.stat().st_mtime
        except (OSError, ValueError):
            continue
        if not isinstance(info, dict) or not isinstance(info.get("url"), str):
            continue
        if server_url_problem(info["url"]) or not _alive(info.get("pid")):
            continue
        parts = urlsplit(info["url"])
        if not _is_loopback(parts.hostname):
            continue
        port = parts.port or (443 if parts.scheme == "https" else 80)
        found.append(RunningEmulator(str(info["url"]).rstrip("/"), port, path, started, info))
    found.sort(key=lambda e: (e.port != DEFAULT_PORT, -e.started))
    return found


def _alive(pid: Any) -> bool:
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    except OSError:
        return False
    return True


def private_dir(path: Path) -> None:
    """Create ``path`` if needed and make it 0700 whatever it was: it holds tokens."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)


def write_discovery(port: int, info: dict[str, Any]) -> Path:
    import tempfile

    d = discovery_dir()
    private_dir(d)
    path = d / f"{port}.json"
    fd, tmp = tempfile.mkstemp(prefix=".run-", dir=d)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(info, fh)
    os.replace(tmp, path)
    return path


def remove_discovery(port: int) -> None:
    (discovery_dir() / f"{port}.json").unlink(missing_ok=True)


def local_emulator_ca(server: str) -> str | None:
    """The CA file of a local ``iotcli emulate --tls`` serving ``server`` (its announcement names it)."""
    parts = urlsplit(server)
    if parts.scheme != "https" or not _is_loopback(parts.hostname):
        return None
    try:
        info = json.loads((discovery_dir() / f"{parts.port or 443}.json").read_text())
    except (OSError, ValueError):
        return None
    ca = info.get("ca_file") if isinstance(info, dict) else None
    return ca if isinstance(ca, str) and ca else None


def find_local_emulator_token(server: str, user: str) -> str | None:
    """The account token of a local emulator serving ``server``, if one runs on this machine.

    Looks at the announcement a running ``iotcli emulate`` writes for its port, then at the
    account file in the default emulator data dir. Only loopback servers are considered: a
    token is never sent to a remote host that did not get it from the user.
    """
    parts = urlsplit(server)
    if not _is_loopback(parts.hostname):
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    candidates = [discovery_dir() / f"{port}.json", default_emulator_dir() / "account.json"]
    for path in candidates:
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(info, dict) and info.get("user") == user and isinstance(info.get("token"), str):
            return str(info["token"])
    return None
