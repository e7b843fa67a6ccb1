from __future__ import annotations

import json
import time

from iotcli.sending.template import RawJson, RenderContext, Template, dumps, iso_now


def test_static_text_is_returned_as_is() -> None:
    t = Template('{"a": 1}')
    assert t.is_static and t.render(RenderContext(i=7)) == '{"a": 1}'


def test_index_now_and_fcnt() -> None:
    t = Template('{"n": {{i}}, "ts": {{ now }}, "f": {{fcnt}}, "at": "{{now_iso}}"}')
    before = int(time.time() * 1000)
    value = json.loads(t.render(RenderContext(i=42, fcnt=9)))
    after = int(time.time() * 1000)
    assert value["n"] == 42 and value["f"] == 9
    assert before <= value["ts"] <= after
    assert value["at"].endswith("+00:00") and value["at"][:4].isdigit()


def test_random_forms() -> None:
    t = Template("{{random}} {{random:1:3}} {{random:1.5:2.5}}")
    seen = set()
    for _ in range(200):
        a, b, c = t.render().split()
        assert 0 <= float(a) < 1
        assert b in {"1", "2", "3"}
        assert 1.5 <= float(c) <= 2.5 and len(c.split(".")[1]) == 2
        seen.add(b)
    assert seen == {"1", "2", "3"}


def test_each_uplink_differs() -> None:
    t = Template('{"n": {{i}}, "r": {{random}}}')
    bodies = {t.render(RenderContext(i=i)) for i in range(1, 51)}
    assert len(bodies) == 50


def test_unknown_placeholders_are_left_alone() -> None:
    assert Template("{{temperature}} {{i}}").render(RenderContext(i=3)) == "{{temperature}} 3"


def test_dumps_raw_fragments_compact_and_indented() -> None:
    value = {"a": RawJson("{{i}}"), "b": [1, {"c": "x"}], "d": {}}
    assert dumps(value) == '{"a":{{i}},"b":[1,{"c":"x"}],"d":{}}'
    assert json.loads(Template(dumps(value, indent=2)).render()) == {"a": 1, "b": [1, {"c": "x"}], "d": {}}
    assert dumps({"x": 1.5, "y": None, "z": "ü"}) == json.dumps(
        {"x": 1.5, "y": None, "z": "ü"}, separators=(",", ":"), ensure_ascii=False
    )


def test_iso_now_has_milliseconds() -> None:
    assert iso_now(0) == "1970-01-01T00:00:00.000+00:00"


def test_now_is_distinct_per_uplink_even_in_the_same_millisecond() -> None:
    t = Template("{{now}}")
    values = [int(t.render(RenderContext(i=i))) for i in range(1, 501)]
    assert len(set(values)) == 500 and values == sorted(values)
    assert abs(values[0] - time.time() * 1000) < 5000
