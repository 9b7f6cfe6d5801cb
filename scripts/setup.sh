#!/usr/bin/env bash
# Installs what Atlante needs on Debian/Ubuntu, only what is missing; safe to run again.
# Uses sudo when not root.
set -euo pipefail

# libclang-dev: bindgen (libsqlite3-sys, gdal-sys build scripts) needs libclang.
# python3-qgis: QGIS's OAPIF provider as a client in the tests (headless).
# fonts-open-sans: map labels (glyphs cut from it by FreeType, see src/fonts.rs). The
#   FreeType is the one pbf_font_tools' freetype-sys vendors, compiled by build-essential's
#   C compiler and linked statically (its symbols not exported): no libfreetype-dev; it
#   needs zlib's headers, zlib1g-dev (libz-sys finds them with pkg-config).
# poppler-utils: the tests read the text of the PDF an app prints (pdftotext).
# python3-venv: the tests' Python tools (rdflib, pyshacl, OWSLib) from PyPI, in target/pyenv.
packages=(build-essential pkg-config libclang-dev libgdal-dev gdal-bin libsqlite3-dev sqlite3 zlib1g-dev fonts-open-sans poppler-utils
          postgresql postgresql-postgis chromium ca-certificates python3 python3-venv python3-qgis)
command -v node >/dev/null 2>&1 || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "atlante setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# MapLibre GL JS and pmtiles (served by the binary, bundled in apps) and playwright-core
# (browser tests), from the lockfile. (python3: the static file server of the browser tests.)
root=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -f "$root/web/node_modules/.package-lock.json" ] || [ "$root/web/package-lock.json" -nt "$root/web/node_modules/.package-lock.json" ]; then
  (cd "$root/web" && npm ci --no-audit --no-fund --loglevel=error)
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "atlante setup: Rust is missing. Install it with rustup (https://rustup.rs), then run this again." >&2
  exit 1
fi
