"""The one curl/HTTPie renderer (iotcli.models.render): a command split by the shell's rules
(``shlex``) gives back the request's method, URL, headers and body."""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest

from iotcli.models.render import Prepared, body_text, curl_command, httpie_command

NASTY = 'it\'s "quoted" $HOME `date` \\ back; & | * ~ é\nnew line'
REQUESTS = [
    Prepared("POST", "http://127.0.0.1:8100/v3/users/local/devices/d1/callback/data?ts=5", [], None),
    Prepared(
        "POST",
        "http://h/x?a=1&b=two words",
        [("Authorization", "Bearer tok'en"), ("Content-Type", "application/json"), ("X-Site", NASTY)],
        json.dumps({"temp": 21.5, "name": NASTY, "on": True, "loc": {"room": "k"}, "tags": ["a"]}).encode(),
    ),
    Prepared("PUT", "https://h:1/p", [("Content-Type", "text/plain")], NASTY.encode()),
    Prepared("DELETE", "http://h/$(rm -rf)", [("X-Trace", "1")], None),
    Prepared("POST", "http://h/x", [("Content-Type", "application/json")], b'[1, 2, {"a": null}]'),
]


def shell_words(command: str) -> list[str]:
    """The words a POSIX shell sees: line continuations (backslash-newline) removed first."""
    return shlex.split(command.replace(" \\\n", " "))


def parse_curl(command: str) -> Prepared:
    words = shell_words(command)
    assert words[:3] == ["curl", "-sS", "-X"]
    method, url, rest = words[3], words[4], words[5:]
    headers: list[tuple[str, str]] = []
    body: bytes | None = None
    options: list[tuple[str, str]] = []
    for flag, value in zip(rest[::2], rest[1::2], strict=True):
        if flag == "-H":
            name, _sep, text = value.partition(": ")
            headers.append((name, text))
        elif flag in ("--data-raw", "-d"):
            body = value.encode()
        else:
            options.append((flag, value))
    return Prepared(method, url, headers, body)


def parse_httpie(command: str) -> tuple[Prepared, Any]:
    """(the request, the JSON value its items make, or None for --raw)."""
    words = shell_words(command)
    assert words[:2] == ["http", "--ignore-stdin"]
    words = words[2:]
    raw: str | None = None
    if words[0] == "--raw":
        raw, words = words[1], words[2:]
    while words[0].startswith("--"):
        words = words[1:]
    method, url, rest = words[0], words[1], words[2:]
    headers: list[tuple[str, str]] = []
    items: dict[str, Any] = {}
    for word in rest:
        key, sep, value = word.partition(":=")
        if sep and ":" not in key and "=" not in key:
            items[key] = json.loads(value)
            continue
        name, sep, value = word.partition(":")
        if sep and "=" not in name:
            headers.append((name, value))
            continue
        key, _sep, value = word.partition("=")
        items[key] = value
    body = raw.encode() if raw is not None else None
    return Prepared(method, url, headers, body), (items if items else None)


@pytest.mark.parametrize("request_", REQUESTS)
@pytest.mark.parametrize("one_line", [False, True])
def test_curl_round_trip(request_: Prepared, one_line: bool) -> None:
    command = curl_command(request_, one_line=one_line)
    groups = len(request_.headers) + (1 if request_.body else 0)
    assert command.count(" \\\n  ") == (0 if one_line else groups)
    parsed = parse_curl(command)
    assert (parsed.method, parsed.url, parsed.headers) == (request_.method, request_.url, request_.headers)
    assert parsed.body == (request_.body or None)


def test_curl_options_and_data_flag() -> None:
    req = REQUESTS[1]
    command = curl_command(req, options=[("--cacert", "/tmp/my ca.pem")], data_option="-d", one_line=True)
    words = shell_words(command)
    assert words[5:7] == ["--cacert", "/tmp/my ca.pem"]
    assert words[-2] == "-d" and words[-1] == body_text(req.body)


def test_curl_expand_double_quotes_a_header_with_a_shell_variable() -> None:
    req = Prepared("POST", "http://h/x", [("Authorization", "Bearer $DEVICE_TOKEN")], b"{}")
    command = curl_command(req, one_line=True, expand=("authorization",))
    assert '-H "Authorization: Bearer $DEVICE_TOKEN"' in command
    assert "-H 'Authorization: Bearer $DEVICE_TOKEN'" in curl_command(req, one_line=True)


@pytest.mark.parametrize("request_", REQUESTS)
def test_httpie_round_trip(request_: Prepared) -> None:
    parsed, items = parse_httpie(httpie_command(request_))
    assert (parsed.method, parsed.url) == (request_.method, request_.url)
    if items is not None:
        # JSON items: HTTPie sets Content-Type itself, and builds the same object.
        assert json.loads(body_text(request_.body)) == items
        assert parsed.headers == [(k, v) for k, v in request_.headers if k.lower() != "content-type"]
    else:
        assert parsed.body == (request_.body or None)
        assert parsed.headers == request_.headers


def test_httpie_items_for_a_flat_json_object_and_raw_otherwise() -> None:
    assert "temp:=21.5" in httpie_command(REQUESTS[1])
    assert "--raw" not in httpie_command(REQUESTS[1])
    assert httpie_command(REQUESTS[2]).startswith("http --ignore-stdin --raw ")
    dotted = Prepared("POST", "http://h", [("Content-Type", "application/json")], b'{"a b": 1}')
    assert "--raw" in httpie_command(dotted)  # a key HTTPie would not take as an item


def test_httpie_options_come_before_the_method() -> None:
    command = httpie_command(REQUESTS[0], options=[("--verify", "/tmp/my ca.pem")])
    assert shell_words(command)[:4] == ["http", "--ignore-stdin", "--verify=/tmp/my ca.pem", "POST"]


def test_binary_body_text_is_summarised() -> None:
    assert body_text(b"\xff\xfe") == "<2 bytes of binary data>"
    assert body_text(None) == body_text(b"") == ""
