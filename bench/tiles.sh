#!/usr/bin/env bash
# Tile serving: Atlante against Martin on the same PostGIS table and the same deterministic
# tile lists, in two zoom bands, caches off and on, without and with Accept-Encoding: gzip.
# Not a test: it prints figures. Needs `martin` on PATH (cargo install martin) and wrk.
#
# The layer: the 7,095 real ISTAT 2021 census sections of Milan, laid 30 times over a 6×5
# grid across the metropolitan area (212,850 polygons; real shapes, placed copies).
#   usage: bench/tiles.sh [seconds per run]     (default 15)
#   SERVERS="atlante" CACHES="off" bench/tiles.sh   limits the runs (default: both of each)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
conns=16
servers=${SERVERS:-atlante martin}
caches=${CACHES:-off on}
[[ $servers != *martin* ]] || command -v martin >/dev/null || { echo "martin is not installed (cargo install martin --locked)"; exit 1; }
# shellcheck source=bench/common.sh
. bench/common.sh   # $work, $bin, a throwaway PostGIS at $url with the layer $table, free_port, wait_up

# Deterministic tile lists over the layer's extent.
python3 - "$work" <<'PY'
import math, random, sys
work = sys.argv[1]
w, s, e, n = 8.4, 45.0, 9.95, 45.95
def tile(lon, lat, z):
    k = 2 ** z
    x = int((lon + 180) / 360 * k)
    y = int((1 - math.log(math.tan(math.radians(lat)) + 1 / math.cos(math.radians(lat))) / math.pi) / 2 * k)
    return x, y
low = []
for z in range(8, 13):
    x0, y0 = tile(w, n, z); x1, y1 = tile(e, s, z)
    low += [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
rnd = random.Random(42)
high = []
for _ in range(4000):
    z = rnd.randint(13, 16)
    high.append((z, *tile(rnd.uniform(w, e), rnd.uniform(s, n), z)))
for name, tiles in (("low", low), ("high", high)):
    with open(f"{work}/{name}.atlante", "w") as f:
        f.writelines(f"/tiles/cmm_bench_sezioni/{z}/{x}/{y}.mvt\n" for z, x, y in tiles)
    with open(f"{work}/{name}.martin", "w") as f:
        f.writelines(f"/cmm_bench_sezioni/{z}/{x}/{y}\n" for z, x, y in tiles)
    print(f"{name}: {len(tiles)} tiles")
PY


start_atlante() { # $1 = cache bytes
  port=$(free_port)
  ATLANTE_TILE_CACHE_BYTES=$1 RUST_LOG=atlante=info $bin --store "$url" serve --listen "127.0.0.1:$port" >"$work/atlante.log" 2>&1 &
  pids+=($!); server_pid=$!; base="http://127.0.0.1:$port"; wait_up "$base/ready"
  # The index is built on first use: build it before measuring (its time is reported below).
  curl -sf "$base/tiles/$table/14/8610/5863.mvt" -o /dev/null
}
start_martin() { # $1 = cache MB
  port=$(free_port)
  martin --listen-addresses "127.0.0.1:$port" --cache-size "$1" --pool-size 20 "$url" >"$work/martin.log" 2>&1 &
  pids+=($!); server_pid=$!; base="http://127.0.0.1:$port"; wait_up "$base/catalog"
}
stop() { kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; }

run() { # server band gzip label
  local list="$work/$2.$1"
  TILE_LIST="$list" GZIP=$3 wrk -t2 -c$conns -d"${secs}s" --timeout 60s -s bench/tiles.lua "$base" | tail -1 | sed "s/^/$4 /"
}

echo "== $(nproc) cores, $conns connections, ${secs}s per run; tiles/s, p50/p99 ms, bytes per tile"
for cache in $caches; do
  for server in $servers; do
    if [ $server = atlante ]; then start_atlante $([ $cache = on ] && echo 1073741824 || echo 0)
    else start_martin $([ $cache = on ] && echo 1024 || echo 0); fi
    for gz in 0 1; do
      for band in low high; do
        if [ $cache = on ]; then TILE_LIST="$work/$band.$server" GZIP=$gz wrk -t2 -c$conns -d"${secs}s" --timeout 60s -s bench/tiles.lua "$base" >/dev/null; fi
        run $server $band $gz "$server cache=$cache gzip=$gz band=$([ $band = low ] && echo z8-12 || echo z13-16)"
      done
    done
    stop
  done
done
grep -h "tile index built" "$work/atlante.log" | tail -1 || true
