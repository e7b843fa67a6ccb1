"""Start-up (issue 17): the modules a single send-uplink imports compile no regular expression at import
(each costs 0.1-0.2 ms); a pattern is compiled on first use, and the public pattern names still work."""

from __future__ import annotations

import subprocess
import sys

from iotcli.models import ids, lorawan, masking, render
from iotcli.sending import items, template


def test_importing_the_send_path_compiles_no_pattern() -> None:
    probe = (
        "import re, json, shlex, urllib.parse, uuid, typer\n"  # the standard library's own patterns first
        "compiled = []\n"
        "real = re.compile\n"
        "re.compile = lambda p, flags=0: (compiled.append(p), real(p, flags))[1]\n"
        "import iotcli.models.ids, iotcli.models.lorawan, iotcli.models.render, iotcli.models.masking\n"
        "import iotcli.sending.items, iotcli.sending.template, iotcli.sending.request, iotcli.sending.printers\n"
        "print(compiled)\n"
    )
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_the_public_pattern_names_are_the_rules() -> None:
    assert ids.ID_PATTERN.pattern == r"^[a-zA-Z0-9_-]{1,32}$" and ids.ID_PATTERN.fullmatch("sensor-1")
    assert lorawan.DEVEUI_PATTERN.fullmatch("0018B20000000B20") and not lorawan.HEX_PATTERN.fullmatch("abc")
    assert template.PLACEHOLDER.sub("X", "{{i}} {{ random:1:2 }} {{other}}") == "X X {{other}}"
    assert ids.is_id("a_b-1") and not ids.is_id("a b") and not ids.is_id("x" * 33)
    try:
        ids.NOT_A_NAME  # noqa: B018
    except AttributeError as exc:
        assert "NOT_A_NAME" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("no AttributeError")


def test_the_fast_paths_agree_with_the_patterns() -> None:
    """A text without "{{" has no placeholder; a name without brackets is one key; as the patterns say."""
    for text in ["", "21.5", '{"a": 1}', "{ {i} }", "{{i}}", "a {{ now }} b", "{{unknown}}"]:
        assert template.has_placeholder(text) == (template.PLACEHOLDER.search(text) is not None)
        assert template.sample(text) == template.PLACEHOLDER.sub("1", text)
        assert template.Template(text).is_static == (template.PLACEHOLDER.search(text) is None)
        if "{{" not in text:
            assert template.Template(text).render() == text
    for key in ["temp", "a.b", "a\nb", "a[b]", "a[]", "a[0][x]"]:
        assert items.parse_items([f"{key}=v"]).body is not None
    assert items.parse_items(["a[b]=1", "c=2"]).body == {"a": {"b": "1"}, "c": "2"}
    assert items.parse_items(["X-Site:A"]).headers == [("X-Site", "A")]
    assert masking.mask_url("http://h/p?a=1&token=x") == "http://h/p?a=1&token=*****"
    assert "a:=1" in render.httpie_command(
        render.Prepared("POST", "http://h/", [("Content-Type", "application/json")], b'{"a": 1}')
    )
