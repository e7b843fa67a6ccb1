from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from iotcli.config import ConfigFile, config_path, find_local_emulator_token, write_discovery
from iotcli.errors import ConfigError
from tests.harness import run_cli


def write_config(text: str) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def show(*args: str, env: dict[str, str] | None = None) -> dict[str, str]:
    result = run_cli(["--json", *args, "config", "show"], env=env)
    assert result.exit_code == 0, result.stderr + result.stdout
    return result.json()["data"]  # type: ignore[no-any-return]


def test_defaults_target_the_local_emulator() -> None:
    data = show()
    assert data["server"] == "http://127.0.0.1:8100"
    assert data["user"] == "local"
    assert data["token"] is None


def test_precedence_flag_over_env_over_profile_over_default() -> None:
    write_config('active = "cloud"\n[profiles.cloud]\nserver = "http://profile:1"\nuser = "puser"\n')
    assert show()["server"] == "http://profile:1"
    assert show()["user"] == "puser"
    env = {"IOTCLI_SERVER": "http://env:2"}
    assert show(env=env)["server"] == "http://env:2"
    assert show(env=env)["user"] == "puser"
    assert show("--server", "http://flag:3", env=env)["server"] == "http://flag:3"
    assert show("--user", "fuser", env={"IOTCLI_USER": "euser"})["user"] == "fuser"


def test_profile_flag_and_env_select_profiles() -> None:
    write_config('[profiles.a]\nserver = "http://a:1"\n[profiles.b]\nserver = "http://b:1"\n')
    assert show("--profile", "a")["server"] == "http://a:1"
    assert show(env={"IOTCLI_PROFILE": "b"})["server"] == "http://b:1"
    assert show("--profile", "a", env={"IOTCLI_PROFILE": "b"})["server"] == "http://a:1"


def test_unknown_profile_exits_3_naming_file_and_profile() -> None:
    write_config('[profiles.a]\nserver = "http://a:1"\n')
    result = run_cli(["--profile", "nope", "config", "show"])
    assert result.exit_code == 3
    assert "nope" in result.stderr and str(config_path()) in result.stderr
    assert "Traceback" not in result.stderr


def test_broken_toml_exits_3_naming_the_file() -> None:
    path = write_config("this is = = not toml")
    result = run_cli(["config", "show"])
    assert result.exit_code == 3
    assert str(path) in result.stderr
    assert result.stderr.startswith("error:")


def test_wrong_type_names_the_key() -> None:
    write_config("[profiles.default]\nserver = 5\n")
    with pytest.raises(ConfigError, match=r"profiles\.default\.server"):
        ConfigFile.load()
    write_config('[profiles.default]\ncolour = "x"\n')
    with pytest.raises(ConfigError, match=r"unknown key 'profiles\.default\.colour'"):
        ConfigFile.load()


def test_unreadable_config_exits_3(tmp_path: Path) -> None:
    path = write_config('[profiles.a]\nserver = "http://a:1"\n')
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as a user who can read any file")
        result = run_cli(["config", "show"])
        assert result.exit_code == 3
        assert "cannot read" in result.stderr
    finally:
        path.chmod(0o600)


def test_config_set_writes_0600_and_round_trips() -> None:
    r = run_cli(["--profile", "cloud", "config", "set", "server", "https://acme.example"])
    assert r.exit_code == 0, r.stderr
    r = run_cli(["--profile", "cloud", "config", "set", "token", "s3cr3t-token-value-123"])
    assert r.exit_code == 0
    assert "s3cr3t-token-value-123" not in r.stderr + r.stdout
    path = config_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    cfg = ConfigFile.load()
    assert cfg.profiles["cloud"] == {"server": "https://acme.example", "token": "s3cr3t-token-value-123"}
    assert run_cli(["config", "use", "cloud"]).exit_code == 0
    assert ConfigFile.load().active == "cloud"
    assert show()["server"] == "https://acme.example"
    listing = run_cli(["--json", "config", "list"]).json()["data"]
    assert [p["name"] for p in listing] == ["default", "cloud"]  # the implicit local profile first
    assert [p["active"] for p in listing] == [False, True]
    assert "s3cr3t-token-value-123" not in json.dumps(listing)


def test_config_set_rejects_unknown_key_and_bad_url() -> None:
    r = run_cli(["config", "set", "colour", "red"])
    assert r.exit_code == 2 and "unknown key 'colour'" in r.stderr
    r = run_cli(["config", "set", "server", "ftp://x"])
    assert r.exit_code == 2 and "http://" in r.stderr
    r = run_cli(["config", "set", "server", "http://[::1"])
    assert r.exit_code == 2 and r.stderr.startswith("error: server URL 'http://[::1'")
    assert not config_path().exists()


def test_config_use_unknown_profile_is_exit_3() -> None:
    r = run_cli(["config", "use", "ghost"])
    assert r.exit_code == 3 and "ghost" in r.stderr


def test_local_emulator_token_found_only_for_loopback() -> None:
    write_discovery(8100, {"url": "http://127.0.0.1:8100", "user": "local", "token": "found-it"})
    assert find_local_emulator_token("http://127.0.0.1:8100", "local") == "found-it"
    assert find_local_emulator_token("http://localhost:8100", "local") == "found-it"
    assert find_local_emulator_token("http://127.0.0.1:8100", "other") is None
    assert find_local_emulator_token("http://127.0.0.1:9999", "local") is None
    assert find_local_emulator_token("https://remote.example:8100", "local") is None
    assert show()["token_source"] == "local emulator"


# --- the per-user folders: platformdirs' rule on Linux without importing it ---------------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fast path is Linux's")
@pytest.mark.parametrize("xdg", [None, "", "  ", "relative/dir", "~/cfg", "/abs/xdg", "/abs/xdg/", "//x"])
@pytest.mark.parametrize("home", [None, "/home/alice", "/home/alice/", "/", "relative-home", "/root"])
def test_the_folders_are_platformdirs_own(
    monkeypatch: pytest.MonkeyPatch, xdg: str | None, home: str | None
) -> None:
    """config_dir()/data_dir() give what platformdirs.user_config_dir/user_data_dir("iotcli",
    appauthor=False) give, with XDG_CONFIG_HOME/XDG_DATA_HOME and HOME set, blank, relative or unset."""
    import platformdirs

    from iotcli import config

    monkeypatch.delenv("IOTCLI_CONFIG_DIR", raising=False)
    monkeypatch.delenv("IOTCLI_DATA_DIR", raising=False)
    for name, value in (("XDG_CONFIG_HOME", xdg), ("XDG_DATA_HOME", xdg), ("HOME", home)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert config.config_dir() == Path(platformdirs.user_config_dir("iotcli", appauthor=False))
    assert config.data_dir() == Path(platformdirs.user_data_dir("iotcli", appauthor=False))
    if not (xdg or "").startswith("/") and home is not None and not home.startswith("/"):
        assert (
            config._linux_user_dir("XDG_CONFIG_HOME", "~/.config") is None
        )  # platformdirs' fallback decides


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fast path is Linux's")
def test_the_folders_do_not_import_platformdirs_on_linux(tmp_path: Path) -> None:
    """A command that reads the config or looks for a running emulator does not pay platformdirs'
    import (~3.4 ms, tempfile and random with it); an Android-looking environment still asks it."""
    probe = (
        "import sys\nfrom iotcli import config\n"
        "print(config.config_dir(), config.data_dir(), 'platformdirs' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IOTCLI_", "XDG_"))}
    env["HOME"] = str(tmp_path)
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    assert r.stdout.split() == [f"{tmp_path}/.config/iotcli", f"{tmp_path}/.local/share/iotcli", "False"], (
        r.stderr
    )
    env.update(ANDROID_DATA="/data", ANDROID_ROOT="/system")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    assert r.stdout.split()[-1] == "True", r.stderr
