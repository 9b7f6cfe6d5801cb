#!/usr/bin/env bash
# Third-party OGC clients against a demo server: schemathesis over /api (no server errors)
# and OWSLib's Features client. Not part of CI (it needs PyPI packages):
#   pip install schemathesis owslib && bench/ogc_clients.sh
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/atlante-ogc-XXXX)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
cargo build --quiet
./target/debug/atlante --store "$work/a.gpkg" demo --no-serve >/dev/null
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
./target/debug/atlante --store "$work/a.gpkg" serve --listen "127.0.0.1:$port" >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.1; done
schemathesis run "http://127.0.0.1:$port/api" --checks not_a_server_error --max-examples 40
python3 - "$port" <<'PY'
import sys
from owslib.ogcapi.features import Features
w = Features(f"http://127.0.0.1:{sys.argv[1]}")
print("collections", [c["id"] for c in w.collections()["collections"]])
items = w.collection_items("015146_nil", limit=2)
print("items", items["numberMatched"], items["numberReturned"])
print("queryables", sorted(w.collection_queryables("015146_nil")["properties"]))
PY
