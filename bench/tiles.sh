#!/usr/bin/env bash
# Tile serving: Atlante against Martin on the same PostGIS table and the same deterministic
# tile lists, in two zoom bands, caches off and on, without and with Accept-Encoding: gzip.
# Not a test: it prints figures. Needs `martin` on PATH (cargo install martin) and wrk.
#
# The layer: the 7,095 real ISTAT 2021 census sections of Milan, laid 30 times over a 6×5
# grid across the metropolitan area (212,850 polygons; real shapes, placed copies).
# BENCH_SOURCE=file.gpkg takes that layer instead (bench/scale.sh's generated buildings).
#   usage: bench/tiles.sh [seconds per run]     (default 15)
#   SERVERS="atlante" CACHES="off" GZIPS="0" bench/tiles.sh   limits the runs (default: all)
#   BUDGETS="1024 4096" bench/tiles.sh   cached runs within memory budgets (MB): Martin's
#     tile cache is the budget; Atlante's tile-index budget is the budget and its tile cache
#     what the index leaves of it (the uncached run holds the index within the smallest).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
conns=16
servers=${SERVERS:-atlante martin}
caches=${CACHES:-off on}
gzips=${GZIPS:-0 1}
budgets=${BUDGETS:-}
[[ $servers != *martin* ]] || command -v martin >/dev/null || { echo "martin is not installed (cargo install martin --locked)"; exit 1; }
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }
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


start_atlante() { # $1 = tile cache bytes, $2 = tile index bytes (0: no limit)
  port=$(free_port)
  ATLANTE_TILE_CACHE_BYTES=$1 ATLANTE_TILE_INDEX_BYTES=$2 RUST_LOG=atlante=info $bin --store "$url" serve --listen "127.0.0.1:$port" >>"$work/atlante.log" 2>&1 &
  pids+=($!); server_pid=$!; base="http://127.0.0.1:$port"; wait_up "$base/ready"
  # The index is built on first use: build it before measuring (its time is reported below).
  curl -sf --max-time 600 "$base/tiles/$table/14/8610/5863.mvt" -o /dev/null
}
start_martin() { # $1 = cache MB
  port=$(free_port)
  martin --listen-addresses "127.0.0.1:$port" --cache-size "$1" --pool-size 20 "$url" >"$work/martin.log" 2>&1 &
  pids+=($!); server_pid=$!; base="http://127.0.0.1:$port"; wait_up "$base/catalog"
}
stop() { # prints the server's resident memory first
  echo "  ($1 resident memory after the runs: $(ps -o rss= -p "$server_pid" | awk '{printf "%.0f", $1/1024}') MB)"
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
}
mib() { echo $(($1 * 1048576)); }

run() { # server band gzip label
  local list="$work/$2.$1"
  TILE_LIST="$list" GZIP=$3 wrk -t2 -c$conns -d"${secs}s" --timeout 60s -s bench/tiles.lua "$base" | tail -1 | sed "s/^/$4 /"
}

# The runs: caches off, then on (1 GiB), or on within each budget.
modes=""
for cache in $caches; do
  if [ $cache = off ]; then modes="$modes off"
  elif [ -n "$budgets" ]; then for b in $budgets; do modes="$modes on:$b"; done
  else modes="$modes on:1024"; fi
done
smallest=$(for b in ${budgets:-0}; do echo "$b"; done | sort -n | head -1)
index_mb=0   # the index's size, from Atlante's first start
echo "== $(nproc) cores, $conns connections, ${secs}s per run; tiles/s, p50/p99 ms, bytes per tile"
for mode in $modes; do
  cache=${mode%%:*}; mb=${mode#*:}
  for server in $servers; do
    if [ $server = atlante ]; then
      if [ $cache = off ]; then start_atlante 0 "$(mib "$smallest")"
      elif [ -n "$budgets" ]; then start_atlante "$(mib $((mb - index_mb)))" "$(mib "$mb")"
      else start_atlante "$(mib 1024)" 0; fi
      index_mb=$(sed 's/\x1b\[[0-9;]*m//g' "$work/atlante.log" | grep -o 'tile index built.* mib=[0-9.]*' | head -1 | grep -o '[0-9.]*$' | cut -d. -f1)
      index_mb=$((${index_mb:-0} + 1))
    else start_martin $([ $cache = on ] && echo "$mb" || echo 0); fi
    label="$server cache=$cache"
    if [ -n "$budgets" ] && [ $cache = on ]; then label="$label budget=${mb}MB"; fi
    for gz in $gzips; do
      for band in low high; do
        if [ $cache = on ]; then TILE_LIST="$work/$band.$server" GZIP=$gz wrk -t2 -c$conns -d"${secs}s" --timeout 60s -s bench/tiles.lua "$base" >/dev/null; fi
        run $server $band $gz "$label gzip=$gz band=$([ $band = low ] && echo z8-12 || echo z13-16)"
      done
    done
    stop "$label"
  done
done
grep -h "tile index built" "$work/atlante.log" | tail -1 || true
