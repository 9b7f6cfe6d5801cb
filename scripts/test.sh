#!/usr/bin/env bash
# The whole test suite: setup, formatting, lints, then every test against both stores
# (the embedded GeoPackage and a throwaway PostGIS cluster the tests start themselves,
# or the server in DATABASE_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked -- --test-threads 4
