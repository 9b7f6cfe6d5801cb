#!/usr/bin/env bash
# OGC API - Features: Atlante against tipg (PyPI, on uvicorn with 2 workers — one per core)
# on the same PostGIS table, same request lists, same concurrency, one run. Not a test: it
# prints figures. Needs wrk and network access to PyPI (tipg is installed in a venv under the
# work folder).
#   1. items?bbox=…&limit=100 at 2,000 random places (boxes of about 1 km) in the metro area;
#   2. a CQL2 attribute + spatial filter: pop21 > 200 AND S_INTERSECTS(geom, POLYGON(…))
#      (a WKT polygon, not BBOX(…): tipg 1.6 sends BBOX literals to PostGIS without an SRID);
#   3. "views": items?bbox=…&limit=100 where people look — boxes the size of a 1280×800 map
#      at zoom 14–17 (about 4 km down to 0.5 km wide) at places drawn around the layer's
#      dense centres, so most match well over 100 features and numberMatched counts them all.
#   usage: bench/features.sh [seconds per run]     (default 15)
#   BENCH_SOURCE=/tmp/atlante-scale/buildings_1000000.gpkg BENCH_FILTER='altezza > 20' \
#     bench/features.sh   the same on bench/scale.sh's generated buildings (views around Milan)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
conns=16
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }
# shellcheck source=bench/common.sh
. bench/common.sh   # $work, $bin, a throwaway PostGIS at $url with the layer $table, free_port, wait_up

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q tipg uvicorn
tipg_version=$("$work/venv/bin/pip" show tipg | awk '/^Version/ {print $2}')

python3 - "$work" "$table" "${BENCH_FILTER:-pop21 > 200}" "${BENCH_SOURCE:-}" <<'PY'
import random, sys, urllib.parse
work, table, attribute_filter, source = sys.argv[1:5]
rnd = random.Random(7)
w, s, e, n = 8.7, 45.2, 9.6, 45.7
boxes = []
for _ in range(2000):
    x, y = rnd.uniform(w, e - 0.02), rnd.uniform(s, n - 0.02)
    boxes.append((x, y, x + 0.013, y + 0.009))
# Views: one of the 30 copies of Milan (bench/common.sh), a place spread around its centre,
# a zoom between 14 and 17.
views = []
for _ in range(2000):
    if source:  # bench/scale_gen.py's densest centre, Milan
        x, y = rnd.gauss(9.19, 0.063), rnd.gauss(45.4642, 0.045)
    else:
        i, j = rnd.randrange(6), rnd.randrange(5)
        cx, cy = 9.19 + (i - 2.5) * 0.25, 45.464 + (j - 2) * 0.16
        x, y = rnd.gauss(cx, 0.03), rnd.gauss(cy, 0.02)
    z = rnd.choice([14, 15, 16, 17])
    w_deg = 4.0 / 2 ** (z - 14) / 78.0   # km → degrees of longitude at 45.5°N
    h_deg = w_deg * 800 / 1280 * 0.70    # degrees of latitude are longer
    views.append((x - w_deg / 2, y - h_deg / 2, x + w_deg / 2, y + h_deg / 2))
for server, coll in (("atlante", table), ("tipg", "public." + table)):
    with open(f"{work}/view.{server}", "w") as f:
        for b in views:
            f.write(f"/collections/{coll}/items?bbox={b[0]:.5f},{b[1]:.5f},{b[2]:.5f},{b[3]:.5f}&limit=100\n")
    with open(f"{work}/bbox.{server}", "w") as f:
        for b in boxes:
            f.write(f"/collections/{coll}/items?bbox={b[0]:.5f},{b[1]:.5f},{b[2]:.5f},{b[3]:.5f}&limit=100\n")
    with open(f"{work}/cql2.{server}", "w") as f:
        for b in boxes:
            x0, y0, x1, y1 = b[0], b[1], b[2] + 0.01, b[3] + 0.01
            ring = f"{x0:.5f} {y0:.5f}, {x1:.5f} {y0:.5f}, {x1:.5f} {y1:.5f}, {x0:.5f} {y1:.5f}, {x0:.5f} {y0:.5f}"
            cql = f"{attribute_filter} AND S_INTERSECTS(geom, POLYGON(({ring})))"
            f.write(f"/collections/{coll}/items?filter-lang=cql2-text&limit=100&filter={urllib.parse.quote(cql)}\n")
PY

start() { # server
  port=$(free_port); base="http://127.0.0.1:$port"
  if [ "$1" = atlante ]; then
    RUST_LOG=atlante=warn $bin --store "$url" serve --listen "127.0.0.1:$port" >"$work/atlante.log" 2>&1 &
  else
    DATABASE_URL="$url" TIPG_MAX_FEATURES_PER_QUERY=10000 "$work/venv/bin/uvicorn" tipg.main:app \
      --host 127.0.0.1 --port "$port" --workers 2 --log-level warning >"$work/tipg.log" 2>&1 &
  fi
  pids+=($!); server_pid=$!; wait_up "$base/collections"
  # Atlante builds its tile indexes at start (as `serve` always does); a tile over Milan
  # waits for the layer's, which plain bbox requests then go through.
  if [ "$1" = atlante ]; then curl -sf -o /dev/null --max-time 600 "$base/tiles/$table/10/538/367.mvt"; fi
}
stop() { kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; }

# The same answers first: both servers must match the same features for the same requests
# (numberMatched of the first 20, min / median / max, and features returned by the first).
check() { # list server
  head -20 "$work/$1.$2" | sed "s|^|$base|" | python3 -c '
import json, statistics, sys, urllib.request
m = []
for i, u in enumerate(sys.stdin.read().split()):
    d = json.load(urllib.request.urlopen(u))
    m.append(d.get("numberMatched"))
    if i == 0:
        first = len(d["features"])
print(f"numberMatched {min(m)} / {statistics.median(m)} / {max(m)}, first returned {first}")'
}

echo "== $(nproc) cores, $conns connections, ${secs}s per run; tipg $tipg_version; requests/s, p50/p99 ms, bytes per response"
for server in atlante tipg; do
  start $server
  for list in bbox cql2 view; do
    echo "$server $list: $(check $list $server)"
    # warm-up, then the measured run
    TILE_LIST="$work/$list.$server" GZIP=0 wrk -t2 -c$conns -d5s --timeout 60s -s bench/tiles.lua "$base" >/dev/null
    TILE_LIST="$work/$list.$server" GZIP=0 wrk -t2 -c$conns -d"${secs}s" --timeout 60s -s bench/tiles.lua "$base" | tail -1 | sed "s/^/$server $list /"
  done
  stop
done
