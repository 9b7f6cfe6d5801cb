#!/usr/bin/env bash
# Real sizes (issue 13): synthetic buildings (polygons) and addresses (points) of SIZE
# features, deterministic (bench/scale_gen.py), on both stores. Not a test: it prints
# figures, one stage at a time, each under a time cap.
#
#   usage: bench/scale.sh [--size N] [--only STAGES] [--stores gpkg,postgis] [--kinds buildings,addresses]
#          STAGES: ingest,first,edits (default all)   N: default 1000000
#
#   ingest  `atlante ingest` next to `ogr2ogr` into the same kind of store (GeoPackage with
#           its R-tree; PostGIS with COPY and a GiST index), features/s
#   first   time from `atlante serve` to the first z14 tile in the densest place (Milan),
#           after a first start (index built from the store) and after a restart (index
#           read back from disk); resident memory per million features once indexed:
#           (RSS once indexed − RSS of the same server before the layer) ÷ millions
#   edits   200 Part 4 PATCHes of random buildings while 16 connections read tiles of the
#           layer (wrk): edit-to-tile p50/p99 on the server that took the edit, and on
#           PostGIS on a second server on the same store. The readers cycle 1,063 tiles
#           (z10-16 over Milan); TILE_CACHE_BYTES sets the servers' tile cache (default
#           256 MiB, which cannot hold them: every read renders)
#
# Generated data is kept in $SCALE_DATA (default /tmp/atlante-scale) between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
size=1000000 only=ingest,first,edits stores=gpkg,postgis kinds=buildings,addresses
while [ $# -gt 0 ]; do
  case $1 in
    --size) size=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --stores) stores=$2; shift 2 ;;
    --kinds) kinds=$2; shift 2 ;;
    *) sed -n 2,18p "$0"; exit 2 ;;
  esac
done
has() { [[ ",$1," == *",$2,"* ]]; }
cap=${STAGE_CAP:-1800}   # seconds per command
data=${SCALE_DATA:-/tmp/atlante-scale}
mkdir -p "$data"
work=$(mktemp -d /tmp/atlante-scale-run-XXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "${pgdata:-}" ]; then runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdata" -m immediate stop >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
export ATLANTE_CACHE_DIR="$work/cache"   # persisted tile indexes and bundles of the servers run here
if [ -n "${TILE_CACHE_BYTES:-}" ]; then export ATLANTE_TILE_CACHE_BYTES=$TILE_CACHE_BYTES; fi
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }
rss_mb() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }

cargo build --release --quiet
bin=$PWD/target/release/atlante
echo "# bench/scale.sh --size $size, $(date -u +%FT%TZ), $(nproc) cores, $(git rev-parse --short HEAD)"

# The data.
for kind in ${kinds//,/ }; do
  src="$data/${kind}_$size.gpkg"
  if [ ! -s "$src" ]; then
    python3 bench/scale_gen.py "$kind" "$size" "$data/$kind.csv"
    nlt=$([ "$kind" = buildings ] && echo POLYGON || echo POINT)
    ogr2ogr -f GPKG "$src" "$data/$kind.csv" -oo GEOM_POSSIBLE_NAMES=wkt -oo KEEP_GEOM_COLUMNS=NO \
      -oo AUTODETECT_TYPE=YES -a_srs EPSG:4326 -nln "$kind" -nlt $nlt
    rm -f "$data/$kind.csv"
  fi
done

# A throwaway PostGIS, if asked for.
if has "$stores" postgis; then
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  pgdata="$work/pg"
  mkdir -p "$pgdata" && chown postgres "$work" "$pgdata"
  runuser -u postgres -- "$pgbin/initdb" -D "$pgdata" -A trust -U postgres --no-sync >/dev/null
  pgport=$(free_port)
  runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdata" -o "-p $pgport -k $work -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=1GB" -l "$work/pg.log" -w start >/dev/null
  pgurl="postgres://postgres@127.0.0.1:$pgport/postgres"
  psql "$pgurl" -qc "CREATE EXTENSION IF NOT EXISTS postgis" >/dev/null
fi

# serve STORE PORT LOG: starts a server, sets $pid.
serve() {
  "$bin" --store "$1" serve --listen "127.0.0.1:$2" >"$3" 2>&1 &
  pid=$!
  pids+=("$pid")
}
wait_ok() { for _ in $(seq 1 3000); do curl -sf -o /dev/null "$1" && return 0; sleep 0.01; done; echo "no answer from $1"; return 1; }
stop() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null || true; }
# The z14 tile over Milan's centre.
read -r tz tx ty < <(python3 -c "
import math; lon, lat, z = 9.19, 45.4642, 14; n = 2**z
print(z, int((lon+180)/360*n), int((1-math.asinh(math.tan(math.radians(lat)))/math.pi)/2*n))")

for store in ${stores//,/ }; do
  loc=$([ "$store" = gpkg ] && echo "$work/atlante.gpkg" || echo "$pgurl")
  "$bin" --store "$loc" orgs >/dev/null   # migrations and seed, outside the timing
  for kind in ${kinds//,/ }; do
    src="$data/${kind}_$size.gpkg"
    layer="cmm_scale_$kind"
    if has "$only" first; then
      # The server before the layer, for the memory baseline.
      port=$(free_port); serve "$loc" "$port" "$work/base.log"
      wait_ok "http://127.0.0.1:$port/health"; sleep 2
      base_rss=$(rss_mb "$pid"); stop "$pid"
    fi
    if has "$only" ingest || has "$only" first || has "$only" edits; then
      t0=$(now)
      timeout "$cap" "$bin" --store "$loc" ingest "$src" --org cmm --layer "scale_$kind" --visibility public >/dev/null 2>"$work/ingest.log" \
        || { echo "$store $kind: atlante ingest failed"; tail -3 "$work/ingest.log"; continue; }
      t1=$(now)
    fi
    if has "$only" ingest; then
      if [ "$store" = gpkg ]; then
        t2=$(now); timeout "$cap" ogr2ogr -f GPKG "$work/ogr.gpkg" "$src" -nln "ogr_$kind"; t3=$(now)
        rm -f "$work/ogr.gpkg"
      else
        t2=$(now)
        PG_USE_COPY=YES timeout "$cap" ogr2ogr -f PostgreSQL PG:"host=127.0.0.1 port=$pgport user=postgres dbname=postgres" \
          "$src" -nln "ogr_$kind" -lco GEOMETRY_NAME=geom -lco SPATIAL_INDEX=GIST -overwrite
        t3=$(now)
        psql "$pgurl" -qc "DROP TABLE ogr_$kind" >/dev/null
      fi
      python3 - "$store" "$kind" "$size" "$t0" "$t1" "$t2" "$t3" <<'PY'
import sys
store, kind, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0, t1, t2, t3 = map(float, sys.argv[4:])
a, o = t1 - t0, t3 - t2
print(f"{store} {kind} ingest: atlante {a:.1f} s ({n/a:,.0f} features/s), ogr2ogr {o:.1f} s ({n/o:,.0f} features/s), atlante/ogr2ogr speed {o/a:.2f}x")
PY
    fi
    if has "$only" first; then
      for run in start restart; do
        port=$(free_port)
        t0=$(now); serve "$loc" "$port" "$work/serve.log"
        wait_ok "http://127.0.0.1:$port/tiles/$layer/$tz/$tx/$ty.mvt"; t1=$(now)
        sleep 3
        echo "$store $kind first tile after $run: $(secs "$t0" "$t1") s; RSS $(rss_mb "$pid") MB (before the layer $base_rss MB): $(python3 -c "print(f'{($(rss_mb "$pid") - $base_rss) / ($size / 1e6):.0f}')") MB per million; $(sed 's/\x1b\[[0-9;]*m//g' "$work/serve.log" | grep -o 'tile index [a-z ]*layer=[a-z_]* .*' | tail -1) $(sed 's/\x1b\[[0-9;]*m//g' "$work/serve.log" | grep -o 'stages=.*' | tail -1)"
        stop "$pid"
      done
    fi
    if has "$only" edits && [ "$kind" = buildings ]; then
      token=$("$bin" --store "$loc" token create --org cmm --label scale 2>/dev/null)
      port=$(free_port); serve "$loc" "$port" "$work/a.log"; a=$pid
      wait_ok "http://127.0.0.1:$port/tiles/$layer/$tz/$tx/$ty.mvt"
      python3 -c "
import math
lon0, lat0 = 9.19, 45.4642
for z in range(10, 17):
    n = 2**z; r = {10: 1, 11: 2, 12: 3, 13: 4, 14: 6, 15: 8, 16: 10}[z]
    cx = int((lon0+180)/360*n); cy = int((1-math.asinh(math.tan(math.radians(lat0)))/math.pi)/2*n)
    for x in range(cx-r, cx+r+1):
        for y in range(cy-r, cy+r+1):
            print(f'/tiles/$layer/{z}/{x}/{y}.mvt')" > "$work/tiles.txt"
      TILE_LIST="$work/tiles.txt" wrk -t2 -c16 -d600s --timeout 30s -s bench/tiles.lua "http://127.0.0.1:$port" > "$work/wrk.txt" 2>&1 &
      wrk_pid=$!; pids+=("$wrk_pid")
      sleep 2
      echo "$store edits on one server, 16 connections reading tiles: $(timeout "$cap" python3 bench/scale_edits.py "http://127.0.0.1:$port" "$token" "$layer" "$size" 200)"
      if [ "$store" = postgis ]; then
        port2=$(free_port); serve "$loc" "$port2" "$work/b.log"; b=$pid
        wait_ok "http://127.0.0.1:$port2/tiles/$layer/$tz/$tx/$ty.mvt"
        echo "$store edits on one server, tiles read on another: $(timeout "$cap" python3 bench/scale_edits.py "http://127.0.0.1:$port" "$token" "$layer" "$size" 200 "http://127.0.0.1:$port2")"
        stop "$b"
      fi
      kill -INT "$wrk_pid" 2>/dev/null || true; wait "$wrk_pid" 2>/dev/null || true
      echo "$store readers meanwhile: $(tail -1 "$work/wrk.txt")"
      echo "$store RSS after the edits: $(rss_mb "$a") MB"
      stop "$a"
    fi
  done
done
