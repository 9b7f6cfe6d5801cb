#!/usr/bin/env bash
# Downloads of a 212,850-polygon layer (bench/common.sh: the census sections of Milan laid
# 30 times over) in every format, on both stores: for each, the time of the first request
# (the file is made: store → GDAL → disk → client), of the second (the kept file), its
# size, the features `ogrinfo` counts in it, and the server's resident memory — before,
# at its peak while the download runs (sampled every 50 ms) and after. Not a test: it
# prints figures.
#
#   usage: bench/downloads.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
echo "# bench/downloads.sh, $(date -u +%FT%TZ), $(nproc) cores, $(git rev-parse --short HEAD)"
rss_mb() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }
now() { date +%s.%N; }
store_gpkg="$work/atlante.gpkg"
$bin --store "$store_gpkg" ingest "$gpkg" --org cmm --layer bench_sezioni --title "Sezioni (bench)" --visibility public >/dev/null 2>&1
for store in "$store_gpkg" "$url"; do
  name=$([ "$store" = "$store_gpkg" ] && echo gpkg || echo postgis)
  port=$(free_port)
  ATLANTE_CACHE_DIR="$work/cache-$name" $bin --store "$store" serve --listen "127.0.0.1:$port" >"$work/serve-$name.log" 2>&1 &
  pid=$!; pids+=("$pid")
  wait_up "http://127.0.0.1:$port/health"
  sleep 1
  for f in gpkg shp csv geojson kml fgb "gpkg&crs=http://www.opengis.net/def/crs/EPSG/0/3003" "csv&bbox=9.1,45.42,9.25,45.52"; do
    label=${f%%&*}; [ "$f" != "$label" ] && label="$label (${f#*&})"
    ext=${f%%&*}; [ "$ext" = shp ] && ext=zip
    before=$(rss_mb "$pid"); peak=$before
    ( while kill -0 "$pid" 2>/dev/null; do rss_mb "$pid"; echo; sleep 0.05; done ) > "$work/rss.txt" &
    sampler=$!
    t0=$(now); curl -sf -o "$work/out.$ext" "http://127.0.0.1:$port/collections/$table/items?f=$f"; t1=$(now)
    kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
    peak=$(sort -n "$work/rss.txt" | tail -1)
    t2=$(now); curl -sf -o /dev/null "http://127.0.0.1:$port/collections/$table/items?f=$f"; t3=$(now)
    src="$work/out.$ext"; [ "$ext" = zip ] && src="/vsizip/$src"
    count=$(ogrinfo -ro -so -al "$src" 2>/dev/null | awk -F': ' '/Feature Count/ {print $2}')
    python3 - "$name" "$label" "$t0" "$t1" "$t2" "$t3" "$(stat -c %s "$work/out.$ext")" "$count" "$before" "$peak" "$(rss_mb "$pid")" <<'PY'
import sys
store, label, t0, t1, t2, t3, size, count, before, peak, after = sys.argv[1:]
t0, t1, t2, t3 = map(float, (t0, t1, t2, t3))
print(f"{store} {label}: made in {t1-t0:.1f} s, again {t3-t2:.2f} s, {int(size)/1e6:.1f} MB, {count} features; RSS {before} MB before, peak {peak}, after {after}")
PY
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
