#!/usr/bin/env bash
# Turn a module's Rust staticlib into one relocatable object Kbuild can link:
#   rust-object.sh LIB.a OUT.o
# - binds memcpy & co. to the kernel's exported versions (compiler_builtins' copies are
#   weak and would otherwise satisfy the references inside the object),
# - drops LLVM bitcode sections (modpost warns on them),
# - keeps only code reachable from init_module/cleanup_module (plus .modinfo/__param).
set -euo pipefail
LIB=$(realpath "$1"); OUT=$(realpath -m "$2")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
ar x "$LIB"
shopt -s nullglob
objs=(*.o)
[ "${#objs[@]}" -gt 0 ] || { echo "rust-object.sh: no objects in $LIB" >&2; exit 1; }
redefine=()
for s in memcpy memmove memset memcmp bcmp strlen; do
  redefine+=(--redefine-sym "$s=__kmods_cb_$s")
done
for o in "${objs[@]}"; do
  case "$o" in
    compiler_builtins*) objcopy "${redefine[@]}" "$o" ;;
  esac
  objcopy --remove-section=.llvmbc --remove-section=.llvmcmd "$o"
done
cat > keep.ld <<'LDS'
SECTIONS {
  .modinfo 0 : { KEEP(*(.modinfo)) }
  __param 0 : ALIGN(8) { KEEP(*(__param)) }
  .init.data 0 : ALIGN(8) { KEEP(*(.init.data)) }
  .exit.data 0 : ALIGN(8) { KEEP(*(.exit.data)) }
}
LDS
ld -r --gc-sections -u init_module -u cleanup_module -T keep.ld -o "$OUT.tmp" "${objs[@]}"
# Sanity: the kernel's module loader accepts neither GOT nor TLS relocations.
if readelf -rW "$OUT.tmp" | grep -qE 'R_X86_64_(GOTPCREL|REX_GOTPCRELX|GOTPCRELX|TPOFF|DTPOFF|GOT64)'; then
  echo "rust-object.sh: $OUT has GOT/TLS relocations the kernel cannot load" >&2
  readelf -rW "$OUT.tmp" | grep -E 'GOT|TPOFF' | head >&2
  exit 1
fi
mv "$OUT.tmp" "$OUT"
