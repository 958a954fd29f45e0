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
  # make bench-http: the user-space server khttpd is compared with, and a second client
  nginx-light wrk
  # guest suite khttpd-clients.sh: third-party HTTP tools against khttpd
  apache2-utils nghttp2-client slowhttptest wget
  # make check-debug: Debian's 6.1 LTS source, built into a sanitizer kernel
  linux-source-6.1 libssl-dev xz-utils
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

# The second Debian LTS kernel (6.12, from bookworm-backports), so that make check
# builds and tests against both kernels users are likely to run. Skipped with a note
# if the archive does not have it (the 6.1 tests still run).
if [ "${KMODS_SKIP_612:-0}" != 1 ] && . /etc/os-release && [ "${VERSION_CODENAME:-}" = bookworm ]; then
  if ! ls /usr/src/linux-headers-6.12.*+deb12-amd64/Makefile >/dev/null 2>&1; then
    if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
      printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        > /etc/apt/sources.list.d/kmods-backports.sources
    fi
    apt-get update -q
    abi=$(apt-cache search --names-only '^linux-headers-6\.12\.[0-9]+\+deb12-amd64$' | awk '{print $1}' \
          | sed 's/^linux-headers-//' | sort -V | tail -1)
    if [ -n "$abi" ]; then
      # The signed image may lag behind a new upload (then only the -unsigned package,
      # the same files without the Secure Boot signature, can be installed).
      image=linux-image-$abi
      if ! apt-cache policy "$image" | grep -q 'Candidate: [0-9]'; then
        image=linux-image-$abi-unsigned
      fi
      echo "setup.sh: installing the 6.12 kernel $abi (headers and $image, for the guest)"
      apt-get install -y -q --no-install-recommends "linux-headers-$abi" "$image"
    else
      echo "setup.sh: note: no 6.12 kernel in the archive; only 6.1 will be tested"
    fi
  fi
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
