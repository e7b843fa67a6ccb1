"""Thinger surface: device properties."""

from __future__ import annotations

from tests.emulator.thinger_helpers import V3, create_device, error
from tests.harness import InProcessEmulator

P = f"{V3}/devices/d1/properties"


def test_property_lifecycle(emulator: InProcessEmulator) -> None:
    create_device(emulator, "d1")
    assert emulator.http.get(P).json() == []
    r = emulator.http.post(P, json={"property": "cfg", "value": {"rate": 5, "mode": "eco"}, "name": "Config"})
    assert r.status_code == 200
    cfg = r.json()
    assert cfg["property"] == "cfg" and cfg["value"] == {"rate": 5, "mode": "eco"} and cfg["name"] == "Config"
    r = emulator.http.post(P, json=[{"property": "a", "value": 1}, {"property": "b", "value": "x"}])
    assert r.status_code == 200 and [p["property"] for p in r.json()] == ["a", "b"]
    assert [p["property"] for p in emulator.http.get(P).json()] == ["a", "b", "cfg"]
    # Creating an existing id overwrites it.
    emulator.http.post(P, json={"property": "a", "value": 2})
    assert emulator.http.get(f"{P}/a").json()["value"] == 2

    r = emulator.http.put(f"{P}/new", json={"value": [1, 2]})
    assert r.status_code == 200 and r.json()["value"] == [1, 2]
    r = emulator.http.put(f"{P}/cfg", json={"value": {"rate": 1}})
    assert r.json()["value"] == {"rate": 1} and "name" not in r.json()  # PUT replaces the property

    r = emulator.http.patch(f"{P}/cfg", json={"value": {"mode": "fast"}, "name": "Cfg"})
    assert (
        r.status_code == 200
        and r.json()["value"] == {"rate": 1, "mode": "fast"}
        and r.json()["name"] == "Cfg"
    )
    r = emulator.http.patch(f"{P}/cfg", json={"value": {"rate": None}})
    assert r.json()["value"] == {"mode": "fast"}

    r = emulator.http.delete(f"{P}/cfg")
    assert r.status_code == 200 and r.json()["property"] == "cfg"
    assert emulator.http.get(f"{P}/cfg").status_code == 404


def test_property_errors(emulator: InProcessEmulator) -> None:
    create_device(emulator, "d1")
    r = emulator.http.post(P, json={"property": "p"})
    assert r.status_code == 400 and "value" in error(r)
    r = emulator.http.post(P, json=[{"property": "p", "value": 1}, {"value": 2}])
    assert r.status_code == 400 and "[1].property" in error(r)
    assert emulator.http.get(P).json() == []  # nothing of a rejected array is stored
    r = emulator.http.post(P, json={"property": "bad id", "value": 1})
    assert r.status_code == 400 and "property" in error(r)
    r = emulator.http.put(f"{P}/p", json={"name": "no value"})
    assert r.status_code == 400 and "value" in error(r)
    r = emulator.http.put(f"{P}/p", json={"property": "q", "value": 1})
    assert r.status_code == 400 and "property" in error(r)
    assert emulator.http.patch(f"{P}/missing", json={"value": 1}).status_code == 404
    emulator.http.put(f"{P}/p", json={"value": 1})
    assert emulator.http.patch(f"{P}/p", json=[1]).status_code == 400
    assert emulator.http.delete(f"{P}/missing").status_code == 404
    assert emulator.http.get(f"{P}/bad.id").status_code == 400
    assert emulator.http.get(f"{V3}/devices/nope/properties").status_code == 404
    assert emulator.http.put(f"{V3}/devices/nope/properties/p", json={"value": 1}).status_code == 404
    assert emulator.anon("GET", P).status_code == 401
    assert emulator.http.get("/v3/users/bob/devices/d1/properties").status_code == 403
