#!/usr/bin/env bash
# Fuzzes the whole HTTP surface, as /api describes it (every route of the route table), with
# schemathesis: examples, coverage, fuzzing and stateful phases, with a valid token of one
# comune (015182) while another (015146) has a private layer planted with canaries. Checks:
# no server error, and no answer (body or header) carrying a canary (bench/fuzz_hooks.py).
# A campaign, not a CI test:
#   pip install schemathesis && bench/fuzz_api.sh [max-examples per operation, default 100]
# STORE=postgres://… runs it on PostGIS (a database it may fill); the default is a
# throwaway GeoPackage.
set -euo pipefail
cd "$(dirname "$0")/.."
examples=${1:-100}
work=$(mktemp -d /tmp/atlante-fuzz-XXXX)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
cargo build --quiet
bin=./target/debug/atlante
store=${STORE:-$work/a.gpkg}
$bin --store "$store" demo --no-serve >/dev/null
cat >"$work/canary.geojson" <<'JSON'
{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"canary_field_7q":"CANARY-VALUE-7Q"},"geometry":{"type":"Point","coordinates":[9.012345678,45.712345678]}}]}
JSON
$bin --store "$store" ingest "$work/canary.geojson" --org 015146 --layer canary --title CANARY-TITLE-7Q >/dev/null
token=$($bin --store "$store" token create --org 015182 --role admin --label fuzz 2>/dev/null)
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
$bin --store "$store" serve --listen "127.0.0.1:$port" >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.1; done
echo "fuzzing http://127.0.0.1:$port/api ($(curl -s "http://127.0.0.1:$port/api" -H "Authorization: Bearer $token" | python3 -c 'import json,sys;d=json.load(sys.stdin);print(sum(len(v) for v in d["paths"].values()), "operations")'))"
set +e
SCHEMATHESIS_HOOKS=bench.fuzz_hooks PYTHONPATH=. schemathesis run "http://127.0.0.1:$port/api" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,no_canary \
  --max-examples "$examples" --continue-on-failure \
  --suppress-health-check all --workers 2 ${SEED:+--seed "$SEED"} --report junit --report-dir "$work/report" 2>&1 | tee "$work/out.txt" | tail -40
rc=${PIPESTATUS[0]}
set -e
# The failing cases in full (the reproduction commands), above the summary.
sed -n '/= FAILURES =/,/= SUMMARY =/p' "$work/out.txt" | head -300
python3 - "$work/report" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
tests = failures = errors = 0
for f in glob.glob(sys.argv[1] + "/*.xml"):
    r = ET.parse(f).getroot()
    for s in ([r] if r.tag == "testsuite" else r.findall("testsuite")):
        tests += int(s.get("tests", 0)); failures += int(s.get("failures", 0)); errors += int(s.get("errors", 0))
print(f"junit: {tests} operations tested, {failures} failed, {errors} errored")
PY
grep -c "status=5" "$work/log" | xargs echo "5xx answers in the server log:" || true
exit $rc
