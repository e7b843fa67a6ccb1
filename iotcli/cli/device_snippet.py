"""``iotcli device snippet ID --lang ...``: code that sends data to a device's callback URL.

Registered as ``device snippet`` by iotcli/cli/device.py. Works offline: the URL comes from the
profile's server and user, the token from --token or the profile (a placeholder when there is none).
"""

import json
from pathlib import Path
from typing import Annotated

import typer

from iotcli.cli.state import get_state
from iotcli.errors import IotcliError, UsageError


def snippet(
    device: Annotated[str, typer.Argument(help="Device id.", show_default=False)],
    lang: Annotated[
        str, typer.Option("--lang", "-l", help="curl, httpie, python, arduino or postman.")
    ] = "curl",
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help="Token to put in the code (best: a device token) [default: the profile's; else <DEVICE_TOKEN>].",
            show_default=False,
        ),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option("--data", help='Example body (JSON) [default: {"temperature": 21.5, "humidity": 48}].'),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the snippet to this file instead of stdout.")
    ] = None,
    environment: Annotated[
        Path | None,
        typer.Option("--environment", help="postman: also write the Postman environment to this file."),
    ] = None,
) -> None:
    """Print ready-to-use code that sends data to a device's callback URL with its token.

    curl and httpie print a command; python an httpx script; arduino an ESP32/ESP8266 sketch; postman a collection (v2.1) whose server, user, device and token live in an environment (--environment FILE writes it).

    Examples:
      iotcli device snippet sensor-1 --lang curl
      iotcli device snippet sensor-1 --lang arduino --token "$DEVICE_TOKEN" -o sensor-1.ino
      iotcli device snippet sensor-1 --lang postman -o sensor-1.postman_collection.json --environment sensor-1.postman_environment.json
    """
    from iotcli import snippets
    from iotcli.sending.request import check_id

    state = get_state()
    out = state.out
    if lang not in snippets.LANGS:
        raise UsageError(f"--lang '{lang}' must be one of: {', '.join(snippets.LANGS)}")
    if environment is not None and lang != "postman":
        raise UsageError("--environment goes with --lang postman")
    check_id(device, "device id")
    body = snippets.DEFAULT_BODY
    if data is not None:
        try:
            body = json.loads(data)
        except ValueError as exc:
            raise UsageError(f"--data is not valid JSON ({exc})") from None
    secret = token
    if secret is None:
        secret = state.token
        if secret:
            out.warn(
                f"the snippet holds the token of profile '{state.profile_name}'; a device token is safer: "
                f"iotcli device token create {device}"
            )
    if not secret:
        secret = snippets.TOKEN_PLACEHOLDER
        out.warn(
            f"no token found: the snippet says {snippets.TOKEN_PLACEHOLDER}; replace it, or pass --token "
            f"(create one with: iotcli device token create {device})"
        )
    target = snippets.DeviceTarget(state.server, state.user, device, secret, body)
    if target.url.startswith("https://") and state.ca_file:
        target.ca_file = str(Path(state.ca_file).expanduser().resolve())
        if lang == "arduino":
            try:
                target.ca_pem = Path(target.ca_file).read_text()
            except OSError as exc:
                raise IotcliError(
                    f"cannot read the CA file {target.ca_file}: {exc.strerror or exc}"
                ) from None
    if lang == "arduino" and snippets.is_loopback_host(target.url):
        out.warn(
            f"{state.server} is this computer: a board cannot reach it. Run the emulator on the LAN "
            "(iotcli emulate --host 0.0.0.0 --token <a-long-secret>) and use "
            f"{snippets.lan_url(target.url)} with this computer's LAN address (see the sketch's comment)"
        )
    text = snippets.render(lang, target)
    if output is not None:
        _write(output, text)
        out.info(f"wrote {output}")
    else:
        out.stdout.write(text)
    if environment is not None:
        _write(environment, json.dumps(snippets.postman_environment(target), indent=2) + "\n")
        out.info(f"wrote {environment} (Postman environment: server, user, device, token)")
    elif lang == "postman":
        out.info("the token lives in a Postman environment: add --environment FILE to write it")
    if lang == "postman" and target.ca_file:
        out.info(
            f"Postman must trust the server's CA: Settings > Certificates > CA certificates: {target.ca_file}"
        )


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise IotcliError(f"cannot write {path}: {exc.strerror or exc}") from None
