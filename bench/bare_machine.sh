#!/usr/bin/env bash
# The quick start on a bare machine: a fresh Debian bookworm root made with debootstrap from
# Debian's mirror, a clean clone of this repository in it, the host's Rust toolchain bound in
# (it cannot be downloaded), then `./scripts/setup.sh` and the release build inside it, and
# the demo loaded and served once. Proves every build dependency is installed by setup.sh.
# Root; a campaign, not a CI test (about 20 minutes on 2 cores).
#   bench/bare_machine.sh [root folder]
set -euo pipefail
cd "$(dirname "$0")/.."
root=${1:-/tmp/atlante-bare}
command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
if [ ! -x "$root/usr/bin/apt-get" ]; then
  debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >"$root.debootstrap.log" 2>&1
fi
rm -rf "$root/src"
git clone -q . "$root/src"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mkdir -p "$root/root/.rustup" "$root/root/.cargo"
mounts=(proc sys dev dev/pts root/.rustup root/.cargo)
mount -t proc proc "$root/proc"; mount --rbind /sys "$root/sys"; mount --rbind /dev "$root/dev"
mount --bind "$HOME/.rustup" "$root/root/.rustup"; mount --bind "$HOME/.cargo" "$root/root/.cargo"
trap 'for m in root/.cargo root/.rustup dev sys proc; do umount -R "$root/$m" 2>/dev/null || true; done' EXIT
echo "== the machine: $(chroot "$root" /bin/sh -c '. /etc/os-release; echo $PRETTY_NAME'), $(chroot "$root" dpkg -l | grep -c '^ii') packages"
# Behind a TLS-inspecting proxy the host trusts an extra CA (NODE_EXTRA_CA_CERTS,
# SSL_CERT_FILE); the fresh root does not, so npm and cargo inside it get that file too.
extra=()
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$NODE_EXTRA_CA_CERTS" ]; then
  cp "$NODE_EXTRA_CA_CERTS" "$root/host-ca.crt"
  extra=(NODE_EXTRA_CA_CERTS=/host-ca.crt SSL_CERT_FILE=/host-ca.crt CARGO_HTTP_CAINFO=/host-ca.crt)
fi
chroot "$root" /usr/bin/env -i HOME=/root PATH=/root/.cargo/bin:/usr/local/bin:/usr/bin:/bin \
  CARGO_TARGET_DIR=/src/target "${extra[@]}" /bin/bash -c '
set -e
cd /src
./scripts/setup.sh
cargo build --release --locked 2>&1 | tail -2
./target/release/atlante --version
./target/release/atlante --store /tmp/demo.gpkg demo --no-serve 2>&1 | tail -1
./target/release/atlante --store /tmp/demo.gpkg layer list | head -3
'
