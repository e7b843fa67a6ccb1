"""iotcli endpoint create|list|show|delete|call against the in-process emulator and a local sink."""

from __future__ import annotations

from tests.conftest import Cli
from tests.harness import Reply, Sink


def test_create_show_list_delete(cli: Cli) -> None:
    r = cli(
        "endpoint", "create", "hook", "--url", "http://127.0.0.1:9/in/{{device}}", "--method", "PUT",
        "-H", "X-Key=abc", "--header", "X-Dev={{device}}", "--name", "Hook", "--description", "test",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert "endpoint 'hook' created" in r.stderr
    shown = cli("--json", "endpoint", "show", "hook").json()["data"]
    assert shown["type"] == "http_request" and shown["name"] == "Hook" and shown["enabled"] is True
    assert shown["config"]["url"] == "http://127.0.0.1:9/in/{{device}}" and shown["config"]["method"] == "PUT"
    assert shown["config"]["headers"] == [
        {"key": "X-Key", "value": "abc"},
        {"key": "X-Dev", "value": "{{device}}"},
    ]
    assert shown["config"]["body_type"] == "json"

    r = cli(
        "--json", "endpoint", "create", "tpl", "--url", "http://127.0.0.1:9/t", "--body", '{"t": {{temp}}}'
    )
    assert r.exit_code == 0, r.stderr
    cfg = r.json()["data"]["config"]
    assert cfg["body_type"] == "custom" and cfg["body"] == '{"t": {{temp}}}' and cfg["method"] == "POST"

    r = cli("endpoint", "list")
    header, *rows = r.stdout.splitlines()
    assert header.split("\t") == ["ENDPOINT", "NAME", "TYPE", "METHOD", "URL", "ENABLED"]
    assert [row.split("\t")[0] for row in rows] == ["hook", "tpl"]
    assert rows[0].split("\t")[3:5] == ["PUT", "http://127.0.0.1:9/in/{{device}}"]
    assert [e["endpoint"] for e in cli("--json", "endpoint", "list").json()["data"]] == ["hook", "tpl"]
    r = cli("endpoint", "show", "hook")
    assert r.exit_code == 0 and any(line.startswith("config") for line in r.stdout.splitlines())

    r = cli("endpoint", "delete", "hook", "--yes")
    assert r.exit_code == 0 and "endpoint 'hook' deleted" in r.stderr
    assert cli("--json", "endpoint", "delete", "tpl", "--yes").json() == {
        "data": {"endpoint": "tpl", "deleted": True}
    }
    assert cli("--json", "endpoint", "list").json()["data"] == []
    assert cli("endpoint", "delete", "tpl", "--yes").exit_code == 4


def test_create_usage_errors(cli: Cli) -> None:
    r = cli("endpoint", "create", "e", "--url", "http://x", "-H", "no-equals")
    assert r.exit_code == 2 and "KEY=VALUE" in r.stderr
    r = cli("endpoint", "create", "e", "--url", "http://x", "--body-type", "custom")
    assert r.exit_code == 2 and "--body" in r.stderr
    r = cli("endpoint", "create", "e", "--url", "ftp://x")
    assert r.exit_code == 2 and "http://" in r.stderr
    assert cli("endpoint", "create", "e", "--url", "http://x", "--method", "BREW").exit_code == 2
    assert cli("endpoint", "create", "e").exit_code == 2  # --url is required
    assert cli("endpoint", "show", "e").exit_code == 4
    cli("endpoint", "create", "e", "--url", "http://x")
    assert cli("endpoint", "create", "e", "--url", "http://x").exit_code == 4


def test_call_renders_placeholders(cli: Cli) -> None:
    with Sink([Reply(201, {"accepted": True})]) as sink:
        cli(
            "endpoint", "create", "tpl", "--url", sink.url + "/in/{{device}}", "-H", "X-Temp={{temp}}",
            "--body", '{"t": {{temp}}, "all": {{}}}',
        )  # fmt: skip
        r = cli("--json", "endpoint", "call", "tpl", "--data", '{"device": "d1", "temp": 21.5}')
        assert r.exit_code == 0, r.stderr
        answer = r.json()["data"]
        assert answer["status"] == 201 and answer["body"] == {"accepted": True}
        req = sink.requests[0]
        assert req.method == "POST" and req.path == "/in/d1" and req.headers["x-temp"] == "21.5"
        assert req.json() == {"t": 21.5, "all": {"device": "d1", "temp": 21.5}}

        cli("endpoint", "create", "plain", "--url", sink.url + "/plain")
        sink.default = Reply(200, "thanks")
        r = cli("endpoint", "call", "plain", "--data", '{"a": [1, 2]}')
        assert r.exit_code == 0, r.stderr
        lines = r.stdout.splitlines()
        assert lines[0].split() == ["status", "200"] and lines[-1] == "thanks"
        assert sink.requests[-1].json() == {"a": [1, 2]}


def test_call_errors(cli: Cli) -> None:
    assert cli("endpoint", "call", "ghost", "--data", "{}").exit_code == 4
    cli("endpoint", "create", "e", "--url", "http://127.0.0.1:9/")
    r = cli("endpoint", "call", "e", "--data", "{oops")
    assert r.exit_code == 2 and "--data is not valid JSON" in r.stderr
