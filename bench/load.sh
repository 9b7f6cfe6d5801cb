#!/usr/bin/env bash
# The resilience load run: N concurrent clients (default 200) for S seconds (default 600)
# against the PostGIS store, with a realistic mix (bench/load.py): tiles of the
# 212,850-polygon bench layer, items with a CQL2 attribute + spatial filter, catalog reads,
# Part 4 edits by three comuni on their own layers, and uploads. Prints the report (p50/p99
# per route class, statuses), the server's resident memory each minute (with what its tile
# cache and indexes hold), the CPU seconds of the server, PostgreSQL and the load client, the
# server-side latency per class, a lone map user's tile latency beside the load
# (bench/probe.py), and the checks:
# no server error but 503, 503 always with Retry-After and under 1 %, memory at the end
# at most 10 % above the middle. A campaign, not a CI test (needs ogr2ogr, and, for
# CLIENT=python, aiohttp from PyPI).
#   bench/load.sh [seconds] [clients]
# With EDIT_STREAM=1, one more editor PATCHes a random census section of the bench layer
# (212,850 polygons) every 0.3 s: compare the reads with a run without it. The clients are
# bench/loadgen (Rust, one thread; CLIENT=rust, the default) or bench/load.py (CLIENT=python;
# PROCS, default 4, is how many processes its clients share): the same mix and report, but
# on two cores Python's clients took a third of the CPU, and what a client measures
# includes its own wait for a core; ATLANTE_STORE_CONNECTIONS and the other
# settings pass through to the server; SERVER_LOG=file keeps its log; CLIENT_NICE=-5 runs
# the load client at a higher CPU priority than the server and PostgreSQL, so that what it
# measures is less its own wait for a core.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
clients=${2:-200}
source bench/common.sh
client=${CLIENT:-rust}
case "$client" in
  rust) cargo build --release --quiet --manifest-path bench/loadgen/Cargo.toml
        load=(bench/loadgen/target/release/loadgen) ;;
  python) python3 -c "import aiohttp" 2>/dev/null || pip install -q aiohttp
          load=(python3 bench/load.py --procs "${PROCS:-4}") ;;
  *) echo "CLIENT is rust or python"; exit 1 ;;
esac
$bin --store "$url" demo --no-serve >/dev/null
setup_comuni "$url"
port=$(free_port); mport=$(free_port)
ATLANTE_METRICS_LISTEN="127.0.0.1:$mport" $bin --store "$url" serve --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
pid=$!; pids+=("$pid")
wait_up "http://127.0.0.1:$port/ready"
# What the server's bounded holdings count (tile cache, tile indexes), in MiB.
held() {
  curl -sf "http://127.0.0.1:$mport/metrics" | awk '/^atlante_tile_cache_bytes / {c = $2} /^atlante_tile_indexes_bytes / {i = $2}
    END {printf "(tile cache %.0f MiB, indexes %.0f MiB)", c / 1048576, i / 1048576}'
}
: >"$work/rss.txt"
( m=0; while kill -0 "$pid" 2>/dev/null; do
    echo "$m $(ps -o rss= -p "$pid" | tr -d ' ') $(held)" >>"$work/rss.txt"; sleep 60; m=$((m + 1)); done ) &
pids+=("$!")
echo "load: $clients clients ($client) for $seconds s on http://127.0.0.1:$port (PostGIS, $table; ${ATLANTE_STORE_CONNECTIONS:-16} store connections)"
stream=()
if [ "${EDIT_STREAM:-0}" = 1 ]; then
  cmm_tok=$($bin --store "$url" token create --org cmm --label stream 2>/dev/null)
  stream=(--edit-stream "$cmm_tok:$table:212850:pop21:0.3")
fi
# CPU seconds (user + system) of the server, the database and the load client over the run.
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
pg_cpu() { ps -u postgres -o cputimes= 2>/dev/null | awk '{s += $1} END {print s + 0}'; }
server0=$(cpu "$pid"); pg0=$(pg_cpu)
# A lone map user beside the load (bench/probe.py): 5 tiles/s of the same zooms and area.
mapfile -t probe_tiles < <(python3 -c "
import math, random
rng = random.Random(3)
for _ in range(400):
    z = rng.randint(10, 16); n = 2 ** z
    lon, lat = rng.uniform(9.04, 9.28), rng.uniform(45.38, 45.54)
    print(f'/tiles/$table/{z}/{int((lon + 180) / 360 * n)}/{int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)}.mvt')")
python3 bench/probe.py "http://127.0.0.1:$port" "$seconds" 5 "${probe_tiles[@]}" >"$work/probe.json" &
probe=$!
nice -n "${CLIENT_NICE:-0}" "${load[@]}" --base "http://127.0.0.1:$port" --seconds "$seconds" --clients "$clients" \
  --edit "$edit" --upload "$upload" "${stream[@]}" >"$work/report.json"
echo "$(ps -o rss= -p "$pid" | tr -d ' ') at the end $(held)" >>"$work/rss.txt"
tck=$(getconf CLK_TCK)
echo "CPU seconds over the run ($(nproc) cores × $seconds s): server $((($(cpu "$pid") - server0) / tck)), PostgreSQL $(($(pg_cpu) - pg0)), load client $(python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['client_cpu_s']))" "$work/report.json")"
curl -sf "http://127.0.0.1:$mport/metrics" >"$work/metrics.txt" || true
[ -n "${SERVER_LOG:-}" ] && cp "$work/server.log" "$SERVER_LOG"
wait "$probe" || true
echo "a lone map user meanwhile, 5 tiles/s on its own connection: $(cat "$work/probe.json")"
cat "$work/report.json"
echo "resident memory (minute, KiB, what the caches hold):"; cat "$work/rss.txt"
python3 - "$work/report.json" "$work/rss.txt" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
rss = [l.split() for l in open(sys.argv[2]) if l.strip()]
by_min = {int(l[0]): int(l[1]) for l in rss if len(l) >= 2 and l[0].isdigit() and l[1].isdigit()}
ok = r["server_errors_not_503"] == 0 and r["busy_share"] < 0.01 and not r["bad_examples"]
print(f"checks: server errors but 503: {r['server_errors_not_503']}; 503 share {r['busy_share']:.4%}; "
      f"503 without Retry-After or failed requests: {len(r['bad_examples'])}")
last = max(by_min) if by_min else 0
if last >= 2:
    mid = by_min[last // 2]
    print(f"memory: minute {last // 2} {mid} KiB, minute {last} {by_min[last]} KiB ({(by_min[last] - mid) / mid:+.1%})")
    # Flat means no climb: memory given back (the allocator returning pages) is no fault.
    ok = ok and by_min[last] - mid <= 0.1 * mid
print("PASS" if ok else "FAIL")
PY
# The server's own view: time from a request's arrival to its answer (the client's figures
# above add the wait in its own event loop), as the upper bound of the latency bucket.
python3 - "$work/metrics.txt" <<'PY'
import re, sys
buckets = {}
for line in open(sys.argv[1]):
    m = re.match(r'atlante_request_seconds_bucket\{class="(\w+)",le="([^"]+)"\} (\d+)', line)
    if m:
        buckets.setdefault(m[1], []).append((float("inf") if m[2] == "+Inf" else float(m[2]), int(m[3])))
for cls, b in sorted(buckets.items()):
    n = b[-1][1]
    if n == 0:
        continue
    q = lambda p: next(f"<= {le * 1000:g} ms" for le, c in b if c >= p * n)
    print(f"server-side {cls}: {n} requests, p50 {q(0.5)}, p99 {q(0.99)}")
PY
