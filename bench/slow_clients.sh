#!/usr/bin/env bash
# 2,000 half-open connections (headers never finished) against the demo server: /health
# keeps answering (its latency sampled while they are held), and the server closes them by
# itself (header timeout, default 15 s). A campaign, not a CI test.
#   bench/slow_clients.sh [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-2000}
work=$(mktemp -d /tmp/atlante-slow-XXXX)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
cargo build --release --quiet
./target/release/atlante --store "$work/a.gpkg" demo --no-serve >/dev/null
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
./target/release/atlante --store "$work/a.gpkg" serve --listen "127.0.0.1:$port" >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.1; done
python3 - "$port" "$n" <<'PY'
import resource, socket, sys, time, urllib.request
port, n = int(sys.argv[1]), int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 200, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
conns = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /api/layers HTTP/1.1\r\nHost: x\r\n")
    s.setblocking(False)
    conns.append(s)
start = time.time()
print(f"{n} half-open connections held")
lat = []
open_left = n
closed_at = None
while time.time() - start < 90:
    t = time.time()
    urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).read()
    lat.append((time.time() - t) * 1000)
    still = 0
    for s in conns:
        if s is None:
            continue
        try:
            if s.recv(1) == b"":
                raise ConnectionError
            still += 1
        except BlockingIOError:
            still += 1
        except (ConnectionError, OSError):
            conns[conns.index(s)] = None
    if still == 0 and closed_at is None:
        closed_at = time.time() - start
        break
    time.sleep(0.5)
lat.sort()
print(f"/health while held: {len(lat)} samples, median {lat[len(lat)//2]:.1f} ms, max {lat[-1]:.1f} ms")
print(f"all {n} closed by the server after {closed_at:.1f} s" if closed_at else f"{still} still open after 90 s")
PY
