#!/usr/bin/env bash
# One-command set-up for a Debian 12 (bookworm) machine: everything the build, the VM
# runner and the tests need, from Debian's package registry and crates.io only.
# Idempotent: re-running it only installs what is missing.
set -euo pipefail

need_root() { [ "$(id -u)" -eq 0 ] || { echo "setup.sh: run as root (sudo $0)" >&2; exit 1; }; }
need_root

export DEBIAN_FRONTEND=noninteractive

PKGS=(
  # Rust toolchain whose library source matches the compiler (build-std for the kernel target)
  rustc-web cargo-web rust-web-src
  # Target kernel: headers for Kbuild, image for the QEMU guest
  linux-headers-amd64 linux-image-amd64
  # Kbuild, bindgen, guest
  build-essential bc bison flex libelf-dev kmod cpio gzip
  clang libclang-dev
  qemu-system-x86 busybox-static
  # tests and tools used by the guest test scripts
  python3 curl iproute2 net-tools
  # bench plots embed this font at compile time
  fonts-dejavu-core
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}"
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# rustup (if present) must use Debian's compiler in this tree: its own has no library source.
if command -v rustup >/dev/null 2>&1; then
  rustup toolchain list | grep -q '^debian' || rustup toolchain link debian /usr
fi

# bindgen: only regenerate bindings when asked, but make the tool available.
BINDGEN_VERSION=0.73.2
if ! command -v bindgen >/dev/null 2>&1; then
  cargo +stable install --locked bindgen-cli --version "$BINDGEN_VERSION" 2>/dev/null \
    || cargo install --locked bindgen-cli --version "$BINDGEN_VERSION"
fi

echo "setup.sh: done"
