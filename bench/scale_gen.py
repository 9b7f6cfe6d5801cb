#!/usr/bin/env python3
"""Deterministic synthetic layers at metropolitan size, for bench/scale.sh.

  scale_gen.py buildings N out.csv   polygons like buildings (rotated rectangles and L shapes,
                                     6-30 m), clustered around the comuni of the Città
                                     Metropolitana, densest in Milan
  scale_gen.py addresses N out.csv   points like address numbers, same clusters

Writes CSV with a WKT column (EPSG:4326); bench/scale.sh turns it into a GeoPackage with
ogr2ogr. The same N always gives the same file (seeded).
"""
import csv
import math
import random
import sys

# (lon, lat, weight, spread in degrees): Milan and a ring of comuni (weights ~ population).
CENTRES = [
    (9.1900, 45.4642, 40, 0.045), (9.2298, 45.5410, 6, 0.012), (9.1130, 45.5280, 4, 0.012),
    (8.9100, 45.5950, 5, 0.012), (8.8790, 45.4310, 3, 0.010), (9.1880, 45.4030, 3, 0.010),
    (9.3400, 45.4050, 3, 0.010), (9.3900, 45.5020, 3, 0.010), (9.4900, 45.5300, 2, 0.010),
    (9.1840, 45.6080, 3, 0.012), (9.0360, 45.5220, 3, 0.010), (9.2620, 45.5240, 3, 0.010),
    (9.0700, 45.4430, 2, 0.010), (9.2600, 45.3400, 2, 0.010), (9.0040, 45.3560, 2, 0.010),
    (8.9770, 45.4900, 2, 0.010), (9.4500, 45.3800, 2, 0.010), (8.8250, 45.5610, 2, 0.010),
]
USES = ["residenziale", "commerciale", "industriale", "servizi", "agricolo", "misto"]
STREETS = ["Via Roma", "Via Garibaldi", "Corso Italia", "Via Manzoni", "Via Dante",
           "Viale Lombardia", "Via Verdi", "Piazza della Repubblica", "Via Mazzini",
           "Via XXV Aprile", "Via Cavour", "Via Milano"]


def place(rng):
    total = sum(c[2] for c in CENTRES)
    r = rng.uniform(0, total)
    for lon, lat, w, s in CENTRES:
        r -= w
        if r <= 0:
            break
    return rng.gauss(lon, s * 1.4), rng.gauss(lat, s)


def building(rng, lon, lat):
    w, h = rng.uniform(6, 30), rng.uniform(6, 24)
    a = rng.uniform(0, math.pi)
    mx = 1 / (111320 * math.cos(math.radians(lat)))
    my = 1 / 110540
    if rng.random() < 0.3:  # an L shape
        pts = [(0, 0), (w, 0), (w, h / 2), (w / 2, h / 2), (w / 2, h), (0, h)]
    else:
        pts = [(0, 0), (w, 0), (w, h), (0, h)]
    ring = []
    for x, y in pts + [pts[0]]:
        x, y = x - w / 2, y - h / 2
        rx, ry = x * math.cos(a) - y * math.sin(a), x * math.sin(a) + y * math.cos(a)
        ring.append(f"{lon + rx * mx:.7f} {lat + ry * my:.7f}")
    return f"POLYGON(({', '.join(ring)}))"


def main():
    kind, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rng = random.Random(f"{kind}-{n}")
    with open(out, "w", newline="") as f:
        wr = csv.writer(f)
        if kind == "buildings":
            wr.writerow(["wkt", "codice", "uso", "altezza", "anno", "piani"])
            for i in range(n):
                lon, lat = place(rng)
                wr.writerow([building(rng, lon, lat), f"ED{i:08d}", rng.choice(USES),
                             round(rng.uniform(3, 60), 1), rng.randint(1850, 2024),
                             rng.randint(1, 12)])
        elif kind == "addresses":
            wr.writerow(["wkt", "codice", "via", "civico", "cap"])
            for i in range(n):
                lon, lat = place(rng)
                wr.writerow([f"POINT({lon:.7f} {lat:.7f})", f"AC{i:08d}", rng.choice(STREETS),
                             str(rng.randint(1, 240)), f"20{rng.randint(100, 199)}"])
        else:
            sys.exit(f"unknown kind {kind}")


if __name__ == "__main__":
    main()
