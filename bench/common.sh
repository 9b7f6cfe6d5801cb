# Shared by the endpoint benchmarks (sourced, not run): a work folder cleaned at exit, the
# release binary, a throwaway PostGIS cluster, and the bench layer loaded into it through
# Atlante — the 7,095 real ISTAT 2021 census sections of Milan laid 30 times over a 6×5 grid
# across the metropolitan area (212,850 polygons; real shapes, placed copies).
# Sets: work bin url table pids; defines free_port, wait_up.
work=$(mktemp -d /tmp/atlante-bench-XXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "${pgdata:-}" ]; then runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdata" -m immediate stop >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 1 300); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "server at $1 did not start"; exit 1; }

cargo build --release --quiet
bin=./target/release/atlante

# The layer: BENCH_SOURCE, a file of features (bench/scale.sh's generated buildings, say),
# or the census sections laid 30 times. Its id is bench_sezioni either way, so that every
# script finds it.
if [ -n "${BENCH_SOURCE:-}" ]; then
  gpkg=$BENCH_SOURCE
else
gpkg="$work/sezioni.gpkg"
for i in 0 1 2 3 4 5; do
  for j in 0 1 2 3 4; do
    dx=$(python3 -c "print(($i - 2.5) * 0.25)"); dy=$(python3 -c "print(($j - 2) * 0.16)")
    ogr2ogr -f GPKG -append -nln sezioni "$gpkg" /vsigzip/bench/data/istat_sezioni_censimento_2021_milano.geojson.gz \
      -dialect SQLite -sql "SELECT ST_Translate(geometry, $dx, $dy, 0) AS geometry, SEZ21, POP21, FAM21, COD_TIPO_S FROM istat_sezioni_censimento_2021_milano"
  done
done
fi

# A throwaway PostGIS.
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
pgdata="$work/pg"
mkdir -p "$pgdata" && chown postgres "$work" "$pgdata"
runuser -u postgres -- "$pgbin/initdb" -D "$pgdata" -A trust -U postgres --no-sync >/dev/null
pgport=$(free_port)
runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdata" -o "-p $pgport -k $work -c listen_addresses=127.0.0.1 -c max_connections=200" -l "$work/pg.log" -w start >/dev/null
url="postgres://postgres@127.0.0.1:$pgport/postgres"
$bin --store "$url" ingest "$gpkg" --org cmm --layer bench_sezioni --title "Sezioni (bench)" --visibility public
table=cmm_bench_sezioni

# Three comuni with their own public layer (the 88 NIL, as quartieri) and an editor token:
# sets `edit` (ORG:TOKEN:LAYER:FEATURES,…) and `upload` (ORG:TOKEN:SLUG:FILE,…) for load.py.
setup_comuni() {
  edit=""; upload=""
  for org in 015146 015182 015002; do
    $bin --store "$1" ingest demo/milano/nil_2020.geojson --org "$org" --layer quartieri --visibility public >/dev/null
    local tok
    tok=$($bin --store "$1" token create --org "$org" --label bench 2>/dev/null)
    edit="$edit${edit:+,}$org:$tok:${org}_quartieri:88"
    upload="$upload${upload:+,}$org:$tok:scuole:tests/fixtures/scuole_mi.geojson"
  done
}
