#!/bin/sh
# Print, one per line, the OS packages owning the shared libraries that the ELF files under the
# given directories link against directly (their DT_NEEDED entries, as ldd resolves them): the
# runtime stage installs exactly these, and the package manager brings what they need in turn
# (dpkg's shlibs Depends, rpm's automatic library Requires), data files included. Listing every
# library ldd prints would name, for libgdal alone, some hundred packages whose names a family
# must then know. Libraries inside those directories, or under a prefix in $OWN_PREFIXES
# (colon-separated, e.g. R's own /var/lang below a recipe's library), are ours and skipped.
# Fails, naming the file and the library, if a library is missing or belongs to no package, so a
# gap shows up in the build instead of as a crash on Lambda.
# Usage: [OWN_PREFIXES=DIR:...] LD_LIBRARY_PATH=<our lib dirs> runtime-libs.sh dpkg|rpm DIR...
set -eu

query="$1"
shift
libs="$(mktemp)"
owners="$(mktemp)"
trap 'rm -f "$libs" "$owners"' EXIT
status=0

for file in $(find "$@" -type f \( -name '*.so' -o -name '*.so.*' -o -perm -u=x \)); do
  # ldd refuses scripts and static binaries; they link nothing.
  out="$(ldd "$file" 2>/dev/null)" || continue
  missing="$(printf '%s\n' "$out" | awk '/=> not found/ { print $1 }')"
  if [ -n "$missing" ]; then
    echo "runtime-libs: $file needs $missing, which is not installed in the builder" >&2
    status=1
  fi
  # readelf (binutils) lists what the file itself needs; ldd says where each resolves.
  needed="$(readelf -d "$file" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p' | tr '\n' ' ')"
  printf '%s\n' "$out" | awk -v needed=" $needed" '$2 == "=>" && $3 ~ /^\// && index(needed, " " $1 " ") { print $3 }' >>"$libs"
done

# The packages owning `path`; dpkg records paths as packaged (/lib or /usr/lib): either form.
dpkg_owner() {
  dpkg-query --search "*${1#/usr}" 2>/dev/null | awk -F': ' '/: \// { print $1 }' | cut -d: -f1 | sort -u
}

own="$*"
own="$own $(printf '%s' "${OWN_PREFIXES:-}" | tr ':' ' ')"
for lib in $(sort -u "$libs"); do
  for dir in $own; do
    case "$lib" in "$dir"/*) continue 2 ;; esac
  done
  case "$query" in
    dpkg)
      owner="$(dpkg_owner "$lib")"
      # Debian manages some libraries with update-alternatives (libblas.so.3, liblapack.so.3,
      # pulled in by libgdal): ldd prints a link through /etc/alternatives that no package owns,
      # so the file it resolves to is asked for instead (dpkg-query(1), update-alternatives(1)).
      [ -n "$owner" ] || owner="$(dpkg_owner "$(readlink -f "$lib")")"
      ;;
    rpm)
      owner="$(rpm -qf --queryformat '%{NAME}\n' "$(readlink -f "$lib")" 2>/dev/null)" || owner=""
      ;;
    *)
      echo "runtime-libs: unknown package query '$query' (dpkg or rpm)" >&2
      exit 2
      ;;
  esac
  if [ -z "$owner" ]; then
    echo "runtime-libs: $lib belongs to no package; install it from a package in the builder" >&2
    status=1
  fi
  printf '%s\n' "$owner" >>"$owners"
done

sort -u "$owners"
exit "$status"
