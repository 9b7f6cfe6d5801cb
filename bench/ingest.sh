#!/usr/bin/env bash
# Ingest speed into PostGIS: Atlante against `ogr2ogr -f PostgreSQL` with PG_USE_COPY=YES,
# same GeoPackage, same machine, one run. Not a test: it prints figures.
#
# The GeoPackage holds the real OSM street segments of Milan three times over (101,592 line
# features) plus nothing synthetic. Uses DATABASE_URL if set, else a throwaway cluster.
#   usage: bench/ingest.sh [copies]      (default 3 copies)
set -euo pipefail
cd "$(dirname "$0")/.."
copies=${1:-3}
work=$(mktemp -d /tmp/atlante-bench-XXXX)
chmod 755 "$work"
cleanup() {
  if [ -n "${pgdata:-}" ]; then runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdata" -m immediate stop >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --release --quiet
gpkg="$work/streets.gpkg"
for i in $(seq 1 "$copies"); do
  ogr2ogr -f GPKG -append -nln streets "$gpkg" /vsigzip/bench/data/osm_streets_milano_2016.geojson.gz
done
n=$(ogrinfo -ro -so "$gpkg" streets | awk '/Feature Count/ {print $3}')

if [ -z "${DATABASE_URL:-}" ]; then
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  pgdata="$work/pg"
  mkdir -p "$pgdata" && chown postgres "$work" "$pgdata"
  runuser -u postgres -- "$pgbin/initdb" -D "$pgdata" -A trust -U postgres --no-sync >/dev/null
  port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdata" -o "-p $port -k $work -c listen_addresses=127.0.0.1" -l "$work/pg.log" -w start >/dev/null
  url="postgres://postgres@127.0.0.1:$port/postgres"
  pgconn="host=127.0.0.1 port=$port user=postgres dbname=postgres"
  psql "$url" -qc "CREATE EXTENSION IF NOT EXISTS postgis" >/dev/null
else
  url=$DATABASE_URL
  pgconn=$DATABASE_URL
fi
./target/release/atlante --store "$url" orgs >/dev/null   # migrations and seed, outside the timing

t0=$(date +%s.%N)
./target/release/atlante --store "$url" ingest "$gpkg" --org cmm --layer bench_streets >/dev/null
t1=$(date +%s.%N)
PG_USE_COPY=YES ogr2ogr -f PostgreSQL PG:"$pgconn" "$gpkg" streets -nln ogr_streets \
  -lco GEOMETRY_NAME=geom -lco SPATIAL_INDEX=GIST -overwrite
t2=$(date +%s.%N)

python3 - "$n" "$t0" "$t1" "$t2" <<'PY'
import sys
n, t0, t1, t2 = int(sys.argv[1]), *map(float, sys.argv[2:])
a, o = t1 - t0, t2 - t1
print(f"features: {n}")
print(f"atlante ingest (validate + repair + publish, GiST index): {a:6.2f} s  {n/a:9.0f} features/s")
print(f"ogr2ogr -f PostgreSQL PG_USE_COPY=YES (GiST index):       {o:6.2f} s  {n/o:9.0f} features/s")
print(f"ratio atlante/ogr2ogr speed: {o/a:.2f}x")
PY
psql "$url" -Atc "SELECT 'rows: atlante ' || (SELECT count(*) FROM cmm_bench_streets) || ', ogr2ogr ' || (SELECT count(*) FROM ogr_streets)"
