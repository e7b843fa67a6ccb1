from __future__ import annotations

from pathlib import Path

import pytest

from iotcli.errors import UsageError
from iotcli.sending.items import parse_items
from iotcli.sending.template import RawJson, Template, dumps


def test_fields_headers_and_query() -> None:
    p = parse_items(
        ["temp:=21.5", "name=kitchen", "on:=true", "X-Site:A", "ts==1700000000000", "url=http://x/y"]
    )
    assert p.body == {"temp": 21.5, "name": "kitchen", "on": True, "url": "http://x/y"}
    assert p.headers == [("X-Site", "A")]
    assert p.query == [("ts", "1700000000000")]


def test_raw_json_values() -> None:
    p = parse_items(['tags:=["a","b"]', 'cfg:={"x": null}', "n:=-3", 's:="txt"'])
    assert p.body == {"tags": ["a", "b"], "cfg": {"x": None}, "n": -3, "s": "txt"}


def test_nested_names() -> None:
    p = parse_items(["a[b]=x", "a[c][d]:=1", "list[]=one", "list[]:=2", "idx[0]=z", "idx[1][k]=v"])
    assert p.body == {"a": {"b": "x", "c": {"d": 1}}, "list": ["one", 2], "idx": ["z", {"k": "v"}]}


def test_escaped_separator_and_empty_value() -> None:
    p = parse_items(["a\\=b=c", "empty="])
    assert p.body == {"a=b": "c", "empty": ""}


def test_values_from_files(tmp_path: Path) -> None:
    (tmp_path / "note.txt").write_text("hello")
    (tmp_path / "cfg.json").write_text('{"k": [1, 2]}')
    p = parse_items([f"note=@{tmp_path / 'note.txt'}", f"cfg:=@{tmp_path / 'cfg.json'}"])
    assert p.body == {"note": "hello", "cfg": {"k": [1, 2]}}


def test_no_body_items_means_no_body() -> None:
    p = parse_items(["X-Trace:1", "q==2"])
    assert p.body is None


def test_placeholders_in_json_values_stay_templates() -> None:
    p = parse_items(["t:={{random:15:25}}", "n:={{i}}", "label=n{{i}}"])
    assert p.body == {"t": RawJson("{{random:15:25}}"), "n": RawJson("{{i}}"), "label": "n{{i}}"}
    text = dumps(p.body)
    assert text == '{"t":{{random:15:25}},"n":{{i}},"label":"n{{i}}"}'
    import json

    rendered = json.loads(Template(text).render())
    assert rendered["n"] == 1 and rendered["label"] == "n1" and 15 <= rendered["t"] <= 25


@pytest.mark.parametrize(
    ("items", "needle"),
    [
        (["temp"], "item 'temp' has no separator"),
        (["temp:=abc"], "item 'temp:=abc': value is not JSON"),
        ([":=1"], "item ':=1': the name before ':=' is empty"),
        (["=x"], "item '=x': the name before '=' is empty"),
        (["a=1", "a[b]=2"], "item 'a[b]=2'"),
        (["a[]=1", "a[k]=2"], "item 'a[k]=2'"),
        (["a[b=1"], "item 'a[b=1': bad nested name"),
        (["a[3]=x"], "item 'a[3]=x': index 3 skips"),
        (["Bad Header:x"], "item 'Bad Header:x'"),
        (["x=@/nonexistent/file"], "item 'x=@/nonexistent/file': cannot read"),
        (["t:={{i}"], "item 't:={{i}': value is not JSON"),
    ],
)
def test_bad_items_name_the_item(items: list[str], needle: str) -> None:
    with pytest.raises(UsageError) as exc:
        parse_items(items)
    assert needle in exc.value.message
