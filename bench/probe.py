#!/usr/bin/env python3
"""A lone map user beside the load: requests tiles at a steady rate, one at a time, on its
own connection, and prints one JSON line of their latency. The load's closed loop of N
clients on a saturated machine reports N / throughput for every class alike; this is what a
planner who opens the map meanwhile waits for.

  probe.py BASE SECONDS RATE TILE_PATH...
"""
import http.client
import json
import random
import sys
import time
import urllib.parse


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def main():
    base, seconds, rate, paths = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
    u = urllib.parse.urlparse(base)
    rng = random.Random(7)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    ms, failed = [], 0
    deadline = time.time() + seconds
    while time.time() < deadline:
        t0 = time.perf_counter()
        try:
            conn.request("GET", rng.choice(paths), headers={"Accept-Encoding": "gzip"})
            r = conn.getresponse()
            r.read()
            if r.status == 200:
                ms.append((time.perf_counter() - t0) * 1000)
            else:
                failed += 1
        except OSError:
            failed += 1
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        time.sleep(max(0.0, 1 / rate - (time.perf_counter() - t0)))
    out = {"requests": len(ms), "failed": failed}
    if ms:
        out.update(p50_ms=round(pct(ms, 50), 1), p99_ms=round(pct(ms, 99), 1), max_ms=round(max(ms), 1))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
