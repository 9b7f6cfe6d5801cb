#!/usr/bin/env python3
"""Computes the expected answers of the CQL2 test set, independently of Atlante.

Each case is a CQL2 filter (text, and for some also JSON) and a Python predicate written by
hand over the *source* GeoJSON (demo/), evaluated with shapely and the standard library.
The result, tests/cql2/cases.json, lists for each case the sorted key values of the
matching features; tests/cql2.rs runs every filter against both stores and compares.

    python3 -m pip install shapely   # once
    python3 tests/cql2/expected.py
"""
import json
import math
import os
import re
from datetime import datetime, timezone

from shapely.geometry import shape, Point, LineString, Polygon, MultiPoint, GeometryCollection, box

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def load(path, key):
    d = json.load(open(os.path.join(ROOT, path), encoding="utf-8"))
    return key, [(f["properties"], shape(f["geometry"])) for f in d["features"]]


LAYERS = {
    "cmm_comuni": load("demo/cmm/comuni_cmm_openpolis.geojson", "com_istat_code"),
    "015146_metro_fermate": load("demo/milano/atm_fermate_metro.geojson", "id_amat"),
    "015146_metro_percorsi": load("demo/milano/atm_percorsi_metro.geojson", "percorso"),
    "015146_aree_pedonali_ztl": load("demo/milano/aree_pedonali_ztl.geojson", "id_amat"),
}


def ts(s):
    """The ZTL files write '2012/05/30 00:00:00+02'; literals are RFC 3339."""
    if s is None:
        return None
    s = s.replace("/", "-")
    if re.search(r"[+-]\d\d$", s):
        s += ":00"
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(timezone.utc)


def like(value, pattern):
    if value is None:
        return False
    rx = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, re.S) is not None


def lt(a, b):
    return a is not None and b is not None and a < b


def gt(a, b):
    return a is not None and b is not None and a > b


def merc(lon, lat):
    r = 6378137.0
    return r * math.radians(lon), r * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


C, F, P, Z = "cmm_comuni", "015146_metro_fermate", "015146_metro_percorsi", "015146_aree_pedonali_ztl"
DUOMO = Point(9.19, 45.4642)
BOX1 = box(9.0, 45.4, 9.3, 45.6)
POLY = Polygon([(9.1, 45.5), (9.3, 45.5), (9.3, 45.55), (9.1, 45.55), (9.1, 45.5)])
LINE = LineString([(9.0, 45.3), (9.4, 45.6)])

# Exact coordinates taken from the data, so the boundary cases are exact.
milano = next(g for p, g in LAYERS[C][1] if p["name"] == "Milano")
mv = milano.exterior.coords[0] if milano.geom_type == "Polygon" else milano.geoms[0].exterior.coords[0]
mv = Point(mv)
stop = next(g for p, g in LAYERS[F][1] if p["nome"] == "DUOMO M1")
ztl0 = next(g for p, g in LAYERS[Z][1] if p["tipo"] == "AREA_C")
inside_c = ztl0.representative_point()
mx, my = merc(9.19, 45.4642)

T = lambda s: ts(s)
CASES = [
    # basic-cql2
    (C, "name = 'Milano'", lambda p, g: p["name"] == "Milano"),
    (C, "name <> 'Milano'", lambda p, g: p["name"] != "Milano"),
    (C, "com_istat_code_num < 15050", lambda p, g: p["com_istat_code_num"] < 15050),
    (C, "com_istat_code_num <= 15050", lambda p, g: p["com_istat_code_num"] <= 15050),
    (C, "com_istat_code_num > 15200", lambda p, g: p["com_istat_code_num"] > 15200),
    (C, "com_istat_code_num >= 15200", lambda p, g: p["com_istat_code_num"] >= 15200),
    (C, "name < 'B'", lambda p, g: p["name"].encode() < b"B"),
    (C, "TRUE", lambda p, g: True),
    (C, "FALSE", lambda p, g: False),
    (F, "linee = '1'", lambda p, g: p["linee"] == "1"),
    (F, "linee = '2' AND nome < 'M'", lambda p, g: p["linee"] == "2" and p["nome"].encode() < b"M"),
    (F, "linee = '3' OR linee = '5'", lambda p, g: p["linee"] in ("3", "5")),
    (F, "NOT (linee = '1')", lambda p, g: p["linee"] != "1"),
    (P, "lung_km > 20.5", lambda p, g: p["lung_km"] > 20.5),
    (P, "num_ferm >= 20 AND linea = 2", lambda p, g: p["num_ferm"] >= 20 and p["linea"] == 2),
    (Z, "tipo = 'ZTL'", lambda p, g: p["tipo"] == "ZTL"),
    (Z, "note IS NULL", lambda p, g: p["note"] is None),
    (Z, "note IS NOT NULL", lambda p, g: p["note"] is not None),
    (Z, "val_inizio IS NULL", lambda p, g: p["val_inizio"] is None),
    (Z, "gruppo_id = 0 AND tipo = 'AP'", lambda p, g: p["gruppo_id"] == 0 and p["tipo"] == "AP"),
    (Z, "(tipo = 'CR' OR tipo = 'ZTL') AND NOT (note IS NULL)", lambda p, g: p["tipo"] in ("CR", "ZTL") and p["note"] is not None),
    # advanced-comparison-operators
    (C, "name LIKE 'San%'", lambda p, g: like(p["name"], "San%")),
    (C, "name LIKE '%sco'", lambda p, g: like(p["name"], "%sco")),
    (C, "name LIKE '_ollate'", lambda p, g: like(p["name"], "_ollate")),
    (C, "name NOT LIKE '%a'", lambda p, g: not like(p["name"], "%a")),
    (C, "name LIKE 'san%'", lambda p, g: like(p["name"], "san%")),
    (C, "com_istat_code_num BETWEEN 15100 AND 15120", lambda p, g: 15100 <= p["com_istat_code_num"] <= 15120),
    (C, "com_istat_code_num NOT BETWEEN 15010 AND 15240", lambda p, g: not 15010 <= p["com_istat_code_num"] <= 15240),
    (C, "name IN ('Milano', 'Monza', 'Rho', 'Bollate')", lambda p, g: p["name"] in ("Milano", "Monza", "Rho", "Bollate")),
    (F, "linee NOT IN ('1', '2', '3')", lambda p, g: p["linee"] not in ("1", "2", "3")),
    (P, "lung_km BETWEEN 10 AND 15", lambda p, g: 10 <= p["lung_km"] <= 15),
    (Z, "id_amat IN (1, 2, 3, 500)", lambda p, g: p["id_amat"] in (1, 2, 3, 500)),
    # case-insensitive-comparison
    (C, "CASEI(name) = casei('MILANO')", lambda p, g: p["name"].lower() == "milano"),
    (C, "CASEI(name) LIKE casei('SAN%')", lambda p, g: like(p["name"].lower(), "san%")),
    (F, "CASEI(nome) LIKE '%duomo%'", lambda p, g: like(p["nome"].lower(), "%duomo%")),
    (C, "CASEI(name) IN (casei('RHO'), casei('rozzano'))", lambda p, g: p["name"].lower() in ("rho", "rozzano")),
    (Z, "CASEI(nome) LIKE 'via %'", lambda p, g: p["nome"] is not None and like(p["nome"].lower(), "via %")),
    # basic-spatial-functions
    (C, "S_INTERSECTS(geometry, POINT(9.19 45.4642))", lambda p, g: g.intersects(DUOMO)),
    (C, "S_INTERSECTS(geometry, BBOX(9.0, 45.4, 9.1, 45.5))", lambda p, g: g.intersects(box(9.0, 45.4, 9.1, 45.5))),
    (F, "S_INTERSECTS(geometry, BBOX(9.17, 45.45, 9.21, 45.48))", lambda p, g: g.intersects(box(9.17, 45.45, 9.21, 45.48))),
    (P, "S_INTERSECTS(geometry, BBOX(9.18, 45.46, 9.2, 45.47))", lambda p, g: g.intersects(box(9.18, 45.46, 9.2, 45.47))),
    (Z, "S_INTERSECTS(geometry, BBOX(9.18, 45.46, 9.2, 45.47))", lambda p, g: g.intersects(box(9.18, 45.46, 9.2, 45.47))),
    # basic-spatial-functions-plus
    (C, "S_INTERSECTS(geometry, LINESTRING(9.0 45.3, 9.4 45.6))", lambda p, g: g.intersects(LINE)),
    (C, "S_INTERSECTS(geometry, POLYGON((9.1 45.5, 9.3 45.5, 9.3 45.55, 9.1 45.55, 9.1 45.5)))", lambda p, g: g.intersects(POLY)),
    (F, "S_INTERSECTS(geometry, POLYGON((9.1 45.5, 9.3 45.5, 9.3 45.55, 9.1 45.55, 9.1 45.5)))", lambda p, g: g.intersects(POLY)),
    (C, "S_INTERSECTS(geometry, MULTIPOINT((9.19 45.4642), (8.9 45.4), (9.5 45.6)))", lambda p, g: g.intersects(MultiPoint([(9.19, 45.4642), (8.9, 45.4), (9.5, 45.6)]))),
    (P, "S_INTERSECTS(geometry, LINESTRING(9.15 45.45, 9.25 45.49))", lambda p, g: g.intersects(LineString([(9.15, 45.45), (9.25, 45.49)]))),
    # spatial-functions
    (C, "S_WITHIN(geometry, BBOX(9.0, 45.4, 9.3, 45.6))", lambda p, g: g.within(BOX1)),
    (C, "S_CONTAINS(geometry, POINT(9.19 45.4642))", lambda p, g: g.contains(DUOMO)),
    (C, "S_DISJOINT(geometry, BBOX(9.0, 45.4, 9.3, 45.6))", lambda p, g: g.disjoint(BOX1)),
    (C, f"S_TOUCHES(geometry, POINT({mv.x!r} {mv.y!r}))", lambda p, g: g.touches(mv)),
    (C, "S_CROSSES(geometry, LINESTRING(9.0 45.3, 9.4 45.6))", lambda p, g: g.crosses(LINE)),
    (C, "S_OVERLAPS(geometry, BBOX(9.0, 45.4, 9.3, 45.6))", lambda p, g: g.overlaps(BOX1)),
    (F, f"S_EQUALS(geometry, POINT({stop.x!r} {stop.y!r}))", lambda p, g: g.equals(stop)),
    (F, "S_WITHIN(geometry, POLYGON((9.1 45.5, 9.3 45.5, 9.3 45.55, 9.1 45.55, 9.1 45.5)))", lambda p, g: g.within(POLY)),
    (F, "S_DISJOINT(geometry, BBOX(9.17, 45.45, 9.21, 45.48))", lambda p, g: g.disjoint(box(9.17, 45.45, 9.21, 45.48))),
    (P, "S_WITHIN(geometry, BBOX(9.0, 45.4, 9.3, 45.6))", lambda p, g: g.within(BOX1)),
    (P, "S_CROSSES(geometry, LINESTRING(9.15 45.45, 9.25 45.49))", lambda p, g: g.crosses(LineString([(9.15, 45.45), (9.25, 45.49)]))),
    (Z, f"S_CONTAINS(geometry, POINT({inside_c.x!r} {inside_c.y!r}))", lambda p, g: g.contains(inside_c)),
    (Z, "S_WITHIN(geometry, BBOX(9.18, 45.46, 9.2, 45.47)) OR tipo = 'AREA_B'", lambda p, g: g.within(box(9.18, 45.46, 9.2, 45.47)) or p["tipo"] == "AREA_B"),
    # geometry collection literals: a feature that either part touches.
    (C, "S_INTERSECTS(geometry, GEOMETRYCOLLECTION(POINT(9.19 45.4642), LINESTRING(8.8 45.35, 8.95 45.45)))",
     lambda p, g: g.intersects(GeometryCollection([DUOMO, LineString([(8.8, 45.35), (8.95, 45.45)])]))),
    (F, "S_INTERSECTS(geometry, GEOMETRYCOLLECTION(POLYGON((9.17 45.45, 9.21 45.45, 9.21 45.48, 9.17 45.48, 9.17 45.45)), POINT(9.1 45.5)))",
     lambda p, g: g.intersects(GeometryCollection([box(9.17, 45.45, 9.21, 45.48), Point(9.1, 45.5)]))),
    (C, "S_DISJOINT(geometry, GEOMETRYCOLLECTION(POINT(9.19 45.4642), LINESTRING(8.8 45.35, 8.95 45.45)))",
     lambda p, g: g.disjoint(GeometryCollection([DUOMO, LineString([(8.8, 45.35), (8.95, 45.45)])]))),
    # temporal-functions
    (Z, "T_AFTER(val_inizio, TIMESTAMP('2015-01-01T00:00:00Z'))", lambda p, g: gt(T(p["val_inizio"]), T("2015-01-01T00:00:00Z"))),
    (Z, "T_BEFORE(val_inizio, DATE('2000-01-01'))", lambda p, g: lt(T(p["val_inizio"]), T("2000-01-01T00:00:00Z"))),
    (Z, "T_DURING(INTERVAL(val_inizio, val_fine), INTERVAL('2017-01-01T00:00:00Z', '2018-01-01T00:00:00Z'))",
     lambda p, g: gt(T(p["val_inizio"]), T("2017-01-01T00:00:00Z")) and lt(T(p["val_fine"]), T("2018-01-01T00:00:00Z"))),
    (Z, "T_INTERSECTS(INTERVAL(val_inizio, val_fine), INTERVAL('2017-08-01T00:00:00Z', '2017-08-02T00:00:00Z'))",
     lambda p, g: p["val_inizio"] is not None and p["val_fine"] is not None and T(p["val_inizio"]) <= T("2017-08-02T00:00:00Z") and T(p["val_fine"]) >= T("2017-08-01T00:00:00Z")),
    (Z, "T_EQUALS(val_fine, TIMESTAMP('2049-12-31T23:00:00Z'))", lambda p, g: T(p["val_fine"]) == T("2049-12-31T23:00:00Z")),
    (Z, "T_DISJOINT(val_inizio, INTERVAL('2000-01-01T00:00:00Z', '2010-01-01T00:00:00Z'))",
     lambda p, g: lt(T(p["val_inizio"]), T("2000-01-01T00:00:00Z")) or gt(T(p["val_inizio"]), T("2010-01-01T00:00:00Z"))),
    (Z, "T_CONTAINS(INTERVAL(val_inizio, val_fine), TIMESTAMP('2017-07-15T00:00:00Z'))",
     lambda p, g: lt(T(p["val_inizio"]), T("2017-07-15T00:00:00Z")) and gt(T(p["val_fine"]), T("2017-07-15T00:00:00Z"))),
    (Z, "T_OVERLAPS(INTERVAL(val_inizio, val_fine), INTERVAL('2017-07-01T00:00:00Z', '2030-01-01T00:00:00Z'))",
     lambda p, g: lt(T(p["val_inizio"]), T("2017-07-01T00:00:00Z")) and gt(T(p["val_fine"]), T("2017-07-01T00:00:00Z")) and lt(T(p["val_fine"]), T("2030-01-01T00:00:00Z"))),
    (Z, "T_MEETS(INTERVAL(val_inizio, val_fine), TIMESTAMP('2049-12-31T23:00:00Z'))", lambda p, g: T(p["val_fine"]) == T("2049-12-31T23:00:00Z")),
    (Z, "T_STARTS(INTERVAL(val_inizio, val_fine), INTERVAL('2012-05-29T22:00:00Z', '..'))",
     lambda p, g: T(p["val_inizio"]) == T("2012-05-29T22:00:00Z") and p["val_fine"] is not None),
    (Z, "T_AFTER(INTERVAL(val_inizio, val_fine), INTERVAL('..', '2010-01-01T00:00:00Z')) AND tipo = 'AP'",
     lambda p, g: gt(T(p["val_inizio"]), T("2010-01-01T00:00:00Z")) and p["tipo"] == "AP"),
]

# filter-crs: the same point in EPSG:3857 and in EPSG:4326 (latitude first).
CRS_CASES = [
    (C, f"S_INTERSECTS(geometry, POINT({mx!r} {my!r}))", "http://www.opengis.net/def/crs/EPSG/0/3857", lambda p, g: g.intersects(DUOMO)),
    (C, "S_INTERSECTS(geometry, POINT(45.4642 9.19))", "http://www.opengis.net/def/crs/EPSG/0/4326", lambda p, g: g.intersects(DUOMO)),
]

# The same filters in CQL2 JSON, by index into CRS_CASES.
CRS_JSON = {
    0: {"op": "s_intersects", "args": [{"property": "geometry"}, {"type": "Point", "coordinates": [mx, my]}]},
    1: {"op": "s_intersects", "args": [{"property": "geometry"}, {"type": "Point", "coordinates": [45.4642, 9.19]}]},
}

# The same filters in CQL2 JSON, by index into CASES.
JSON = {
    0: {"op": "=", "args": [{"property": "name"}, "Milano"]},
    6: {"op": "<", "args": [{"property": "name"}, "B"]},
    12: {"op": "not", "args": [{"op": "=", "args": [{"property": "linee"}, "1"]}]},
    16: {"op": "isNull", "args": [{"property": "note"}]},
    21: {"op": "like", "args": [{"property": "name"}, "San%"]},
    26: {"op": "between", "args": [{"property": "com_istat_code_num"}, 15100, 15120]},
    28: {"op": "in", "args": [{"property": "name"}, ["Milano", "Monza", "Rho", "Bollate"]]},
    32: {"op": "=", "args": [{"casei": {"property": "name"}}, {"casei": "MILANO"}]},
    37: {"op": "s_intersects", "args": [{"property": "geometry"}, {"type": "Point", "coordinates": [9.19, 45.4642]}]},
    38: {"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": [9.0, 45.4, 9.1, 45.5]}]},
    47: {"op": "s_within", "args": [{"property": "geometry"}, {"bbox": [9.0, 45.4, 9.3, 45.6]}]},
    60: {"op": "t_after", "args": [{"property": "val_inizio"}, {"timestamp": "2015-01-01T00:00:00Z"}]},
    62: {"op": "t_during", "args": [{"interval": [{"property": "val_inizio"}, {"property": "val_fine"}]},
                                   {"interval": ["2017-01-01T00:00:00Z", "2018-01-01T00:00:00Z"]}]},
}
# Shared vertices and exact points, written with all 16-17 significant digits: JSON numbers
# must be read exactly (one ulp off, S_TOUCHES finds nothing).
def _index(text):
    return next(i for i, c in enumerate(CASES) if c[1] == text)
JSON[_index(f"S_TOUCHES(geometry, POINT({mv.x!r} {mv.y!r}))")] = {"op": "s_touches", "args": [{"property": "geometry"}, {"type": "Point", "coordinates": [mv.x, mv.y]}]}
JSON[_index(f"S_EQUALS(geometry, POINT({stop.x!r} {stop.y!r}))")] = {"op": "s_equals", "args": [{"property": "geometry"}, {"type": "Point", "coordinates": [stop.x, stop.y]}]}
JSON[_index(f"S_CONTAINS(geometry, POINT({inside_c.x!r} {inside_c.y!r}))")] = {"op": "s_contains", "args": [{"property": "geometry"}, {"type": "Point", "coordinates": [inside_c.x, inside_c.y]}]}
for text in [c[1] for c in CASES if c[1].startswith("S_INTERSECTS(geometry, GEOMETRYCOLLECTION") or c[1].startswith("S_DISJOINT(geometry, GEOMETRYCOLLECTION")]:
    i = _index(text)
    layer, _, pred = CASES[i]
    if layer == C:
        geoms = [{"type": "Point", "coordinates": [9.19, 45.4642]}, {"type": "LineString", "coordinates": [[8.8, 45.35], [8.95, 45.45]]}]
    else:
        geoms = [{"type": "Polygon", "coordinates": [[[9.17, 45.45], [9.21, 45.45], [9.21, 45.48], [9.17, 45.48], [9.17, 45.45]]]}, {"type": "Point", "coordinates": [9.1, 45.5]}]
    JSON[i] = {"op": text.split("(")[0].lower(), "args": [{"property": "geometry"}, {"type": "GeometryCollection", "geometries": geoms}]}


def answer(layer, pred):
    key, feats = LAYERS[layer]
    return sorted(str(p[key]) for p, g in feats if pred(p, g))


out = []
assert len(CASES) + len(CRS_CASES) >= 60
for i, (layer, text, pred) in enumerate(CASES):
    case = {"collection": layer, "filter": text, "expected": answer(layer, pred)}
    if i in JSON:
        case["json"] = JSON[i]
    out.append(case)
for i, (layer, text, crs, pred) in enumerate(CRS_CASES):
    case = {"collection": layer, "filter": text, "filter_crs": crs, "expected": answer(layer, pred)}
    if i in CRS_JSON:
        case["json"] = CRS_JSON[i]
    out.append(case)

keys = {name: key for name, (key, _) in LAYERS.items()}
json.dump({"keys": keys, "cases": out}, open(os.path.join(os.path.dirname(__file__), "cases.json"), "w"),
          indent=1, ensure_ascii=False)
print(f"{len(out)} cases; empty answers: {[c['filter'] for c in out if not c['expected']]}")
