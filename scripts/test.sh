#!/usr/bin/env bash
# The whole test suite: setup, formatting, lints, then every test against both stores
# (the embedded GeoPackage and a throwaway PostGIS cluster the tests start themselves,
# or the server in DATABASE_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# The open-data tests' validators (tests/opendata/requirements.txt), pinned, from PyPI.
if [ ! -f target/pyenv/.installed ] || [ tests/opendata/requirements.txt -nt target/pyenv/.installed ]; then
  python3 -m venv target/pyenv
  target/pyenv/bin/pip install -q --disable-pip-version-check -r tests/opendata/requirements.txt
  touch target/pyenv/.installed
fi
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked -- --test-threads 4
