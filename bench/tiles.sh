#!/usr/bin/env bash
# Tile serving: Atlante against Martin on the same PostGIS table and the same deterministic
# tile lists, in two zoom bands, caches off and on, without and with Accept-Encoding: gzip.
# Not a test: it prints figures. Needs `martin` on PATH (cargo install martin) and wrk.
#
# The layer: the 7,095 real ISTAT 2021 census sections of Milan, laid 30 times over a 6×5
# grid across the metropolitan area (212,850 polygons; real shapes, placed copies).
#   usage: bench/tiles.sh [seconds per run]     (default 15)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
conns=16
work=$(mktemp -d /tmp/atlante-tbench-XXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "${pgdata:-}" ]; then runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdata" -m immediate stop >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
command -v martin >/dev/null || { echo "martin is not installed (cargo install martin --locked)"; exit 1; }
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }

cargo build --release --quiet
bin=./target/release/atlante

# The layer.
gpkg="$work/sezioni.gpkg"
for i in 0 1 2 3 4 5; do
  for j in 0 1 2 3 4; do
    dx=$(python3 -c "print(($i - 2.5) * 0.25)"); dy=$(python3 -c "print(($j - 2) * 0.16)")
    ogr2ogr -f GPKG -append -nln sezioni "$gpkg" /vsigzip/bench/data/istat_sezioni_censimento_2021_milano.geojson.gz \
      -dialect SQLite -sql "SELECT ST_Translate(geometry, $dx, $dy, 0) AS geometry, SEZ21, POP21, FAM21, COD_TIPO_S FROM istat_sezioni_censimento_2021_milano"
  done
done

# A throwaway PostGIS.
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
pgdata="$work/pg"
mkdir -p "$pgdata" && chown postgres "$work" "$pgdata"
runuser -u postgres -- "$pgbin/initdb" -D "$pgdata" -A trust -U postgres --no-sync >/dev/null
pgport=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdata" -o "-p $pgport -k $work -c listen_addresses=127.0.0.1 -c max_connections=200" -l "$work/pg.log" -w start >/dev/null
url="postgres://postgres@127.0.0.1:$pgport/postgres"
$bin --store "$url" ingest "$gpkg" --org cmm --layer bench_sezioni --title "Sezioni (bench)"
table=cmm_bench_sezioni

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

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 1 300); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "server at $1 did not start"; exit 1; }

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
for cache in off on; do
  for server in atlante martin; do
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
