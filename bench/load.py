#!/usr/bin/env python3
"""A realistic mixed load against a running Atlante, for bench/load.sh and bench/faults.sh.

N concurrent clients for D seconds, each picking at random (by weight): vector tiles over
Milan at z10-z16, items with a CQL2 filter (attribute + spatial), catalog reads, feature
edits (PATCH, Part 4) by several comuni, and uploads of a small file as new versions. Every
answer is recorded by route class: status, latency, and whether a 503 carried Retry-After.
Prints one JSON report at the end (and a progress line every 10 s to stderr).

    python3 bench/load.py --base http://127.0.0.1:8080 --seconds 600 --clients 200 \\
        --edit ORG:TOKEN:LAYER[,...] --upload ORG:TOKEN:SLUG:FILE[,...] \\
        [--edit-stream TOKEN:LAYER:FEATURES:FIELD:SECONDS] [--procs 4]

The clients run in --procs processes, each its own event loop: one Python loop serving 200
connections at a thousand answers a second is itself the bottleneck, and every answer waits
in its queue before its time is taken (the latency measured is then the client's own).

--edit-stream adds one editor, outside the clients, that PATCHes a random feature of LAYER
every SECONDS (its answers are the "stream" class).
"""
import argparse
import asyncio
import json
import math
import multiprocessing
import random
import resource
import sys
import time

import aiohttp

MILAN = (9.04, 45.38, 9.28, 45.54)


def tile_for(lon, lat, z):
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.log(math.tan(math.radians(lat)) + 1 / math.cos(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


class Stats:
    def __init__(self, start):
        self.start = start
        self.by_class = {}
        self.bad = []

    def add(self, cls, status, ms, retry_after, at):
        c = self.by_class.setdefault(cls, {"status": {}, "minute": {}})
        c["minute"].setdefault(int(at // 60), []).append(ms)
        c["status"][status] = c["status"].get(status, 0) + 1
        if status >= 500 and not (status == 503 and retry_after):
            if len(self.bad) < 50:
                self.bad.append((cls, status))

    def merge(self, other):
        for cls, c in other.by_class.items():
            mine = self.by_class.setdefault(cls, {"status": {}, "minute": {}})
            for m, lat in c["minute"].items():
                mine["minute"].setdefault(m, []).extend(lat)
            for k, v in c["status"].items():
                mine["status"][k] = mine["status"].get(k, 0) + v
        self.bad.extend(other.bad[: max(0, 50 - len(self.bad))])

    def report(self, seconds):
        out = {}
        total = errors = busy = 0
        def q(lat, p):
            lat = sorted(lat)
            return round(lat[min(len(lat) - 1, int(p * len(lat)))], 1) if lat else None
        for cls, c in sorted(self.by_class.items()):
            lat = [ms for m in c["minute"].values() for ms in m]
            n = len(lat)
            out[cls] = {"requests": n, "per_s": round(n / seconds, 1), "p50_ms": q(lat, 0.5),
                        "p99_ms": q(lat, 0.99),
                        # p99 of each minute of the run: the first holds the cold start.
                        "p99_ms_by_minute": [q(c["minute"][m], 0.99) for m in sorted(c["minute"])],
                        "status": {str(k): v for k, v in sorted(c["status"].items())}}
            total += n
            for k, v in c["status"].items():
                if k >= 500 and k != 503:
                    errors += v
                if k == 503:
                    busy += v
        return {"seconds": round(seconds, 1), "requests": total, "per_s": round(total / seconds, 1),
                "server_errors_not_503": errors, "busy_503": busy,
                "busy_share": round(busy / total, 5) if total else 0, "bad_examples": self.bad, "by_class": out}


async def one(session, stats, cls, method, url, **kw):
    t = time.perf_counter()
    at = time.time() - stats.start
    try:
        async with session.request(method, url, **kw) as r:
            await r.read()
            stats.add(cls, r.status, (time.perf_counter() - t) * 1000, "Retry-After" in r.headers, at)
    except Exception as e:  # a refused or reset connection counts as status 0
        stats.add(cls, 0, (time.perf_counter() - t) * 1000, False, at)
        if len(stats.bad) < 50:
            stats.bad.append((cls, str(e)[:80]))


async def client(session, stats, args, deadline, rng):
    base = args.base
    while time.time() < deadline:
        r = rng.random()
        if r < 0.60:
            z = rng.randint(10, 16)
            x, y = tile_for(rng.uniform(MILAN[0], MILAN[2]), rng.uniform(MILAN[1], MILAN[3]), z)
            layer = rng.choice(args.tile_layers)
            await one(session, stats, "tiles", "GET", f"{base}/tiles/{layer}/{z}/{x}/{y}.mvt",
                      headers={"Accept-Encoding": "gzip"})
        elif r < 0.80:
            lon, lat = rng.uniform(MILAN[0], MILAN[2]), rng.uniform(MILAN[1], MILAN[3])
            d = rng.uniform(0.003, 0.02)
            f = (f"pop21 > {rng.randint(0, 300)} AND S_INTERSECTS(geometry, "
                 f"POLYGON(({lon} {lat}, {lon + d} {lat}, {lon + d} {lat + d}, {lon} {lat + d}, {lon} {lat})))")
            await one(session, stats, "features", "GET", f"{base}/collections/{args.items_layer}/items",
                      params={"filter": f, "limit": "100"})
        elif r < 0.95:
            path = rng.choice(["/api/layers", "/collections", f"/collections/{args.items_layer}",
                               f"/tiles/{args.items_layer}.json", "/api/orgs"])
            await one(session, stats, "catalog", "GET", base + path)
        elif r < 0.995 and args.edit:
            org, token, layer, n = rng.choice(args.edit)
            fid = rng.randint(1, n)
            body = {"properties": {args.edit_field: f"edit {rng.randint(0, 10**9)}"}}
            await one(session, stats, "write", "PATCH", f"{base}/collections/{layer}/items/{fid}",
                      json=body, headers={"Authorization": f"Bearer {token}"})
        elif args.upload:
            org, token, slug, path = rng.choice(args.upload)
            data = aiohttp.FormData()
            data.add_field("file", open(path, "rb").read(), filename=path.split("/")[-1])
            await one(session, stats, "upload", "POST", f"{base}/api/orgs/{org}/layers/{slug}",
                      data=data, headers={"Authorization": f"Bearer {token}"})


async def editor(session, stats, args, deadline):
    token, layer, n, field, every = args.edit_stream.split(":")
    rng = random.Random(99)
    while time.time() < deadline:
        t0 = time.time()
        fid = rng.randint(1, int(n))
        body = {"properties": {field: rng.randint(0, 10**6)}}
        await one(session, stats, "stream", "PATCH", f"{args.base}/collections/{layer}/items/{fid}",
                  json=body, headers={"Authorization": f"Bearer {token}"})
        await asyncio.sleep(max(0.0, float(every) - (time.time() - t0)))


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--procs", type=int, default=4, help="client processes (the clients are shared among them)")
    ap.add_argument("--tile-layers", default="cmm_bench_sezioni")
    ap.add_argument("--items-layer", default="cmm_bench_sezioni")
    ap.add_argument("--edit", default="", help="ORG:TOKEN:LAYER:FEATURES,...")
    ap.add_argument("--edit-field", default="nil")
    ap.add_argument("--upload", default="", help="ORG:TOKEN:SLUG:FILE,...")
    ap.add_argument("--edit-stream", default="", help="TOKEN:LAYER:FEATURES:FIELD:SECONDS")
    args = ap.parse_args()
    args.tile_layers = args.tile_layers.split(",")
    args.edit = [(o, t, l, int(n)) for o, t, l, n in (e.split(":") for e in args.edit.split(",") if e)]
    args.upload = [tuple(u.split(":", 3)) for u in args.upload.split(",") if u]
    return args


async def run_share(args, share, start, show_progress):
    """The clients numbered share, share + procs, …; the editor runs in share 0."""
    stats = Stats(start)
    deadline = start + args.seconds
    mine = range(share, args.clients, args.procs)
    conn = aiohttp.TCPConnector(limit=max(1, len(mine)), force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:
        async def progress():
            while time.time() < deadline:
                await asyncio.sleep(10)
                n = sum(len(m) for c in stats.by_class.values() for m in c["minute"].values())
                print(f"{time.time() - start:6.0f} s  {n * args.procs} requests (about)", file=sys.stderr, flush=True)
        tasks = [asyncio.create_task(client(session, stats, args, deadline, random.Random(i))) for i in mine]
        own = None
        if args.edit_stream and share == 0:
            # Its own connection: the clients' pool is always full.
            own = aiohttp.ClientSession(timeout=timeout)
            tasks.append(asyncio.create_task(editor(own, stats, args, deadline)))
        p = asyncio.create_task(progress()) if show_progress else None
        await asyncio.gather(*tasks)
        if p:
            p.cancel()
        if own:
            await own.close()
    return stats


def share_main(args, share, start, out):
    out.put(asyncio.run(run_share(args, share, start, share == 0)))


def main():
    args = parse_args()
    args.procs = max(1, args.procs)
    start = time.time()
    stats = Stats(start)
    if args.procs == 1:
        stats = asyncio.run(run_share(args, 0, start, True))
    else:
        ctx = multiprocessing.get_context("fork")
        out = ctx.Queue()
        procs = [ctx.Process(target=share_main, args=(args, k, start, out)) for k in range(args.procs)]
        for p in procs:
            p.start()
        for _ in procs:
            stats.merge(out.get())
        for p in procs:
            p.join()
    report = stats.report(time.time() - start)
    # CPU (user + system) of this process and its client processes.
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    report["client_cpu_s"] = round(own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime, 1)
    report["client_procs"] = args.procs
    print(json.dumps(report, indent=1))


main()
