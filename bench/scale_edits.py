#!/usr/bin/env python3
"""Edit-to-tile latency, for bench/scale.sh.

  scale_edits.py BASE TOKEN LAYER N_FEATURES EDITS [WATCH_BASE]

For EDITS features picked deterministically among fids 1..N_FEATURES: read the feature,
PATCH its `uso` attribute to a new value over OGC API Part 4 on BASE, then poll its z16
tile — on BASE, or on WATCH_BASE (a second server on the same store) — until the tile holds
the new value. Prints one JSON line: PATCH time and edit-to-tile time (from the PATCH's
answer to the first tile that shows it), p50/p99/max in ms.
"""
import http.client
import json
import math
import random
import sys
import time
import urllib.parse


def conn(base):
    u = urllib.parse.urlparse(base)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30)


def tile_of(lon, lat, z):
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, x, y


def first_point(g):
    c = g["coordinates"]
    while isinstance(c[0], list):
        c = c[0]
    return c[0], c[1]


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def main():
    base, token, layer, n, edits = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    watch = sys.argv[6] if len(sys.argv) > 6 else base
    rng = random.Random(42)
    w, r = conn(base), conn(watch)
    patch_ms, tile_ms, first_ms, timeouts = [], [], [], 0
    for i in range(edits):
        fid = rng.randint(1, n)
        w.request("GET", f"/collections/{layer}/items/{fid}")
        resp = w.getresponse()
        body = resp.read()
        if resp.status != 200:
            continue
        f = json.loads(body)
        z, x, y = tile_of(*first_point(f["geometry"]), 16)
        value = f"EDIT-{i}-{rng.randint(0, 10**9)}"
        t0 = time.perf_counter()
        w.request("PATCH", f"/collections/{layer}/items/{fid}",
                  body=json.dumps({"properties": {"uso": value}}),
                  headers={"Authorization": f"Bearer {token}",
                           "Content-Type": "application/merge-patch+json"})
        resp = w.getresponse()
        resp.read()
        t1 = time.perf_counter()
        if resp.status != 200:
            sys.exit(f"PATCH {fid}: {resp.status}")
        patch_ms.append((t1 - t0) * 1000)
        while True:
            r.request("GET", f"/tiles/{layer}/{z}/{x}/{y}.mvt")
            resp = r.getresponse()
            tile = resp.read()
            if len(first_ms) < len(patch_ms):
                first_ms.append((time.perf_counter() - t1) * 1000)
            if value.encode() in tile:
                tile_ms.append((time.perf_counter() - t1) * 1000)
                break
            if time.perf_counter() - t1 > 10:
                timeouts += 1
                break
            time.sleep(0.002)
    out = {"edits": len(patch_ms), "timeouts": timeouts}
    for name, v in [("patch", patch_ms), ("edit_to_tile", tile_ms), ("first_tile_read", first_ms)]:
        if v:
            out[name] = {"p50_ms": round(pct(v, 50), 1), "p99_ms": round(pct(v, 99), 1),
                         "max_ms": round(max(v), 1)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
