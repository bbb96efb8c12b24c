#!/usr/bin/env bash
# Fill a CRAN-like mirror directory with real R sources taken from Debian's source packages.
# CRAN is unreachable here; Debian's orig tarballs of R 4.0.4 (bullseye) and 4.5.0 (trixie) are
# byte-identical to CRAN's, so the real pins in VERSIONS.toml verify against them. Bookworm's
# 4.2.2 snapshot is *not* CRAN's R-4.2.2 and is laid out under that name on purpose: it is the
# checksum-mismatch case. Uses a private apt state directory, so the system's apt is untouched.
# Usage: make-local-mirror.sh [MIRROR_DIR]   (default: $RLAMBDA_CACHE/cran-mirror, see lib.sh)
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cache="$rlambda_cache"
mirror_dir="${1:-$cache/cran-mirror}"
apt_dir="$cache/apt-sources"
debian="$debian_mirror"

# suite  Debian source version  file in the mirror
wanted=(
  "bullseye 4.0.4-1 R-4.0.4.tar.gz"
  "trixie 4.5.0-3 R-4.5.0.tar.gz"
  "bookworm 4.2.2.20221110-2 R-4.2.2.tar.gz"
)

mkdir -p "$mirror_dir/src/base/R-4" "$apt_dir/lists/partial"
missing=0
for entry in "${wanted[@]}"; do
  read -r _ _ file <<<"$entry"
  [ -s "$mirror_dir/src/base/R-4/$file" ] || missing=1
done
if [ "$missing" = 0 ]; then
  echo "==> local CRAN mirror complete at $mirror_dir"
  exit 0
fi

cat >"$apt_dir/sources.list" <<LIST
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $debian bullseye main
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $debian bookworm main
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $debian trixie main
LIST
apt_opts=(
  -o "Dir::Etc::SourceList=$apt_dir/sources.list"
  -o "Dir::Etc::SourceParts=-"
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "APT::Sandbox::User=root"
)
echo "==> reading Debian source indexes (bullseye, bookworm, trixie)"
apt-get "${apt_opts[@]}" update -qq

# Some .dsc files are gone from the pool while their orig tarballs remain, so fetch the tarball
# itself and check it against the sha256 in the Sources index that apt just verified.
index="$(apt-cache "${apt_opts[@]}" showsrc r-base | awk '
  /^Version:/ { v = $2 }
  /^Checksums-Sha256:/ { c = 1; next }
  /^[A-Z]/ { c = 0 }
  c && /orig\.tar/ { print v, $1, $3 }')"
for entry in "${wanted[@]}"; do
  read -r suite version file <<<"$entry"
  target="$mirror_dir/src/base/R-4/$file"
  [ -s "$target" ] && continue
  read -r _ sha orig <<<"$(grep "^$version " <<<"$index" || true)"
  if [ -z "${orig:-}" ]; then
    echo "r-base $version is not in Debian's $suite Sources index" >&2
    exit 1
  fi
  echo "==> r-base $version ($suite) -> src/base/R-4/$file"
  curl -fsSL -o "$target.part" "$debian/pool/main/r/r-base/$orig"
  if ! echo "$sha  $target.part" | sha256sum -c --quiet -; then
    rm -f "$target.part"
    echo "$orig does not match Debian's Sources index" >&2
    exit 1
  fi
  mv "$target.part" "$target"
done
echo "==> local CRAN mirror ready at $mirror_dir"
