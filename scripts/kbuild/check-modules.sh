#!/usr/bin/env bash
# Post-link checks on built modules: check-modules.sh KDIR MOD.ko...
# Every undefined symbol must be exported by the kernel (Module.symvers), the module must
# carry a license and vermagic, and no relocation the loader rejects may be present.
set -euo pipefail
KDIR=$1; shift
status=0
for ko in "$@"; do
  [ -f "$ko" ] || { echo "check-modules: $ko missing" >&2; status=1; continue; }
  lic=$(modinfo -F license "$ko"); vm=$(modinfo -F vermagic "$ko")
  [ -n "$lic" ] || { echo "check-modules: $ko has no license" >&2; status=1; }
  [ -n "$vm" ] || { echo "check-modules: $ko has no vermagic" >&2; status=1; }
  undef=$(nm -u "$ko" | awk '{print $2}' | sort -u)
  missing=$(comm -23 <(echo "$undef") <(awk '{print $2}' "$KDIR/Module.symvers" | sort -u) | grep -v '^$' || true)
  if [ -n "$missing" ]; then
    echo "check-modules: $ko needs symbols the kernel does not export:" >&2
    echo "$missing" | sed 's/^/  /' >&2
    status=1
  fi
  if readelf -rW "$ko" | grep -qE 'R_X86_64_(GOTPCREL|REX_GOTPCRELX|GOTPCRELX|TPOFF|DTPOFF)'; then
    echo "check-modules: $ko has GOT/TLS relocations" >&2; status=1
  fi
done
exit $status
