#!/usr/bin/env bash
# Quick start: set up what is missing, build, load the bundled Milan data into the embedded
# GeoPackage store (data/atlante.gpkg) and serve it on http://127.0.0.1:8080/.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release --locked
exec ./target/release/atlante demo "$@"
