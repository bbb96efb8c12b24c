#!/usr/bin/env bash
# Fill a CRAN-like mirror with real R *package* sources taken from Debian's source packages, and
# index them the way tools::write_PACKAGES does (src/contrib/PACKAGES and PACKAGES.gz, written by
# rlambda.recipes.packages_index). CRAN is unreachable here; Debian carries CRAN packages as
# r-cran-* sources whose orig tarball is CRAN's tarball renamed -- except `+dfsg` versions, which
# Debian repacked (here: jsonlite, shipped as .tar.xz and recompressed below), so their bytes and
# hashes differ from CRAN's. Current versions come from trixie; older ones (bookworm, bullseye)
# go under src/contrib/Archive/<pkg>/, so a lock whose constraint excludes the current version
# really takes the Archive path. Same directory as make-local-mirror.sh (R sources in src/base).
# Uses a private apt state directory, so the system's apt is untouched.
# Usage: make-local-cran-packages.sh [MIRROR_DIR]   (default: $RLAMBDA_CACHE/cran-mirror, see lib.sh)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cache="$rlambda_cache"
mirror_dir="${1:-$cache/cran-mirror}"
contrib="$mirror_dir/src/contrib"
# Not make-local-mirror.sh's apt dir: two scripts updating one apt state at once would collide
# on its lock.
apt_dir="$cache/apt-sources-cran-packages"
debian="$debian_mirror"
python="${PYTHON:-$root/.venv/bin/python}"
[ -x "$python" ] || python=python3

# Debian source package, Debian version, CRAN package, where it goes (current | archive), and
# CRAN's version when Debian spells it otherwise.
# The closure of xml2 1.3.8 is cli + rlang (its DESCRIPTION: Imports cli, methods,
# rlang (>= 1.1.0)); jsonlite needs only methods; cli and rlang only utils. (bullseye's xml2
# 1.3.2, rlang 1.0.6 and 0.4.10 are listed in the Sources indexes but their orig tarballs are
# gone from the pool: 404.)
wanted=(
  "r-cran-jsonlite 1.9.1+dfsg-1 jsonlite current"
  "r-cran-xml2 1.3.8-1 xml2 current"
  "r-cran-cli 3.6.4-1 cli current"
  "r-cran-rlang 1.1.5-3 rlang current"
  "r-cran-jsonlite 1.8.4+dfsg-1 jsonlite archive"
  "r-cran-xml2 1.3.3-1 xml2 archive"
  "r-cran-cli 3.6.0-1 cli archive"
  # plumber and its closure (plumber 1.3.0's Imports: R6, stringi, jsonlite, webutils, httpuv,
  # crayon, promises, sodium, swagger, magrittr, mime, lifecycle, rlang; then httpuv -> later,
  # promises, R6, Rcpp; promises -> fastmap, later, magrittr, R6, Rcpp, rlang; later -> Rcpp,
  # rlang; webutils -> curl, jsonlite; lifecycle -> cli, glue, rlang). Bookworm's plumber
  # 1.2.1+ds-1 is listed, but its orig tarball is gone from the pool (404), so trixie's 1.3.0.
  # The +dfsg/+ds repacks drop bundled third-party code (R code is untouched). httpuv's repack
  # drops its bundled libuv, which CRAN's httpuv builds when the system has none (AL2023 has
  # none a recipe can rely on), so CRAN's httpuv 1.6.15 is vendored instead (below).
  "r-cran-plumber 1.3.0+ds-1 plumber current"
  "r-cran-r6 2.6.1-1 R6 current"
  "r-cran-stringi 1.8.4-1 stringi current"
  "r-cran-webutils 1.2.2-1 webutils current"
  "r-cran-crayon 1.5.3-1 crayon current"
  "r-cran-promises 1.3.2+dfsg-1 promises current"
  "r-cran-sodium 1.4.0+dfsg-1 sodium current"
  "r-cran-swagger 5.17.14.1-1 swagger current"
  "r-cran-magrittr 2.0.3-1 magrittr current"
  "r-cran-mime 0.12-2 mime current"
  "r-cran-lifecycle 1.0.4+dfsg-1 lifecycle current"
  "r-cran-later 1.4.1+dfsg-1 later current"
  "rcpp 1.0.14-1 Rcpp current"
  "r-cran-fastmap 1.2.0-1 fastmap current"
  "r-cran-curl 6.2.1+dfsg-1 curl current"
  "r-cran-glue 1.8.0-1 glue current"
  # lambdaparallel's dependencies (the worker recipe, s3-summary): curl (above); openssl -> askpass
  # -> sys; globals -> codetools; jsonlite (above).
  "r-cran-openssl 2.3.2+dfsg-1 openssl current"
  "r-cran-askpass 1.2.1-1 askpass current"
  "r-cran-sys 3.4.3-1 sys current"
  "r-cran-globals 0.16.3-1 globals current"
  "codetools 0.2-20-1 codetools current" # Debian's source package is "codetools"
  # purrr, for furrr: furrr's futures call purrr in the worker. purrr 1.0.4's Imports: cli,
  # lifecycle, magrittr, rlang, vctrs; vctrs 0.6.5's: cli, glue, lifecycle, rlang (all above).
  "r-cran-purrr 1.0.4-1 purrr current"
  "r-cran-vctrs 0.6.5-1 vctrs current"
  # The geo-plot recipe: sf, data.table, ggplot2 and ragg, and their closure (each
  # DESCRIPTION's Imports and LinkingTo). sf -> classInt, DBI, magrittr, Rcpp, s2, units;
  # classInt -> class, e1071, KernSmooth; e1071 -> class, proxy; class -> MASS; s2 -> Rcpp, wk;
  # units -> Rcpp. ggplot2 3.5.1 -> cli, glue, gtable, isoband, lifecycle, MASS, mgcv, rlang,
  # scales, tibble, vctrs, withr; mgcv -> Matrix, nlme; Matrix -> lattice; scales -> farver,
  # labeling, munsell, R6, RColorBrewer, viridisLite; munsell -> colorspace; tibble -> fansi,
  # pillar, pkgconfig; pillar -> utf8. ragg -> systemfonts, textshaping (cpp11 to build them).
  # R is built --without-recommended-packages, so MASS, class, KernSmooth, Matrix, lattice, nlme
  # and mgcv come from here too. trixie's mgcv 1.9-3 and s2 1.1.7 orig tarballs are gone from
  # the pool (404), and bookworm's mgcv 1.8-41 does not compile under R 4.5's default C23
  # (`true` is a keyword: "lvalue required as unary '&' operand"): both are vendored (below).
  "r-cran-sf 1.0-19+dfsg-2 sf current"
  "r-cran-wk 0.9.4-1 wk current"
  "r-cran-units 0.8-7+dfsg-2 units current"
  "r-cran-classint 0.4-11+dfsg-1 classInt current"
  "dbi 1.2.3-1 DBI current"
  "r-cran-e1071 1.7-16-1 e1071 current"
  "r-cran-proxy 0.4-27-1 proxy current"
  "r-cran-class 7.3-23-1 class current"
  "r-cran-mass 7.3-65-1 MASS current"
  "kernsmooth 2.23-26-1 KernSmooth current"
  "r-cran-data.table 1.17.0+dfsg-1 data.table current"
  "r-cran-ggplot2 3.5.1+dfsg-1 ggplot2 current"
  "r-cran-gtable 0.3.6+dfsg-1 gtable current"
  "r-cran-isoband 0.2.7-1 isoband current"
  "r-cran-scales 1.3.0-1 scales current"
  "r-cran-tibble 3.2.1+dfsg-3 tibble current"
  "r-cran-pillar 1.10.1+dfsg-1 pillar current"
  "r-cran-withr 3.0.2+dfsg-1 withr current"
  "r-cran-farver 2.1.2-1 farver current"
  "r-cran-labeling 0.4.3-1 labeling current"
  "r-cran-munsell 0.5.1-1 munsell current"
  "r-cran-colorspace 2.1-1+dfsg-1 colorspace current"
  "rcolorbrewer 1.1-3-1 RColorBrewer current"
  "r-cran-viridislite 0.4.2-2 viridisLite current"
  "r-cran-fansi 1.0.6-2 fansi current"
  "r-cran-utf8 1.2.4-1 utf8 current"
  "r-cran-pkgconfig 2.0.3-2 pkgconfig current"
  "nlme 3.1.168-1 nlme current 3.1-168" # Debian writes CRAN's 3.1-168 as 3.1.168
  "rmatrix 1.7-3-1 Matrix current"
  "lattice 0.22-7-1 lattice current"
  "r-cran-ragg 1.3.3-1 ragg current"
  "r-cran-systemfonts 1.2.1-1 systemfonts current"
  "r-cran-textshaping 0.3.7-2 textshaping current"
  "r-cran-cpp11 0.5.2-1 cpp11 current"
)

# CRAN releases Debian's pool no longer holds, vendored in reference/cran-sources/ (README.md
# there: where each came from, its licence): copied into the mirror and checked against the
# sha256 recorded there, so CI (which reaches Debian but not CRAN or GitHub) builds the same.
vendored_dir="$root/reference/cran-sources"
vendored=()
while read -r sha file; do
  vendored+=("$sha $file")
done <"$vendored_dir/SHA256SUMS"

# Debian version -> CRAN version: drop the Debian revision (after the last '-'; CRAN versions
# such as 0.1-3 keep their own dash) and a repack suffix (+dfsg, +ds, ...).
upstream_version() {
  local v="${1%-*}"
  echo "${v%%+*}"
}

target_of() {
  local version cran place
  version="${4:-$(upstream_version "$1")}"
  cran="$2"
  place="$3"
  if [ "$place" = current ]; then
    echo "$contrib/${cran}_${version}.tar.gz"
  else
    echo "$contrib/Archive/$cran/${cran}_${version}.tar.gz"
  fi
}

# lambdaparallel (parallel/) is not here: it comes from this repository, never from a mirror
# (rlambda/sources/repository.py).
mkdir -p "$contrib"

for entry in "${vendored[@]}"; do
  read -r sha file <<<"$entry"
  if ! cmp -s "$vendored_dir/$file" "$contrib/$file"; then
    if ! echo "$sha  $vendored_dir/$file" | sha256sum -c --quiet -; then
      echo "$vendored_dir/$file does not match its sha256 in SHA256SUMS" >&2
      exit 1
    fi
    echo "==> $file (vendored) -> src/contrib/$file"
    cp "$vendored_dir/$file" "$contrib/$file.part"
    mv "$contrib/$file.part" "$contrib/$file"
  fi
done

complete=1
for entry in "${wanted[@]}"; do
  read -r _ version cran place cran_version <<<"$entry"
  [ -s "$(target_of "$version" "$cran" "$place" "$cran_version")" ] || complete=0
done
# The index must be newer than every tarball it describes.
if [ "$complete" = 1 ] && [ -s "$contrib/PACKAGES" ] && [ -s "$contrib/PACKAGES.gz" ] &&
  [ -z "$(find "$contrib" -name '*.tar.gz' -newer "$contrib/PACKAGES" -print -quit)" ]; then
  echo "==> local CRAN packages complete at $contrib"
  exit 0
fi

mkdir -p "$contrib" "$apt_dir/lists/partial"
if [ "$complete" = 0 ]; then
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

  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  for entry in "${wanted[@]}"; do
    read -r source version cran place cran_version <<<"$entry"
    target="$(target_of "$version" "$cran" "$place" "$cran_version")"
    [ -s "$target" ] && continue
    # Some .dsc files are gone from the pool while their orig tarballs remain, so fetch the
    # tarball itself and check it against the sha256 in the Sources index apt just verified.
    read -r sha orig <<<"$(apt-cache "${apt_opts[@]}" showsrc "$source" | awk -v want="$version" '
      /^Version:/ { v = $2 }
      /^Checksums-Sha256:/ { c = 1; next }
      /^[A-Z]/ { c = 0 }
      c && v == want && /orig\.tar/ { print $1, $3; exit }')"
    if [ -z "${orig:-}" ]; then
      echo "$source $version is not in Debian's Sources indexes (bullseye, bookworm, trixie)" >&2
      exit 1
    fi
    echo "==> $source $version -> ${target#"$mirror_dir/"}"
    url="$debian/pool/main/${source:0:1}/$source/$orig"
    if ! curl -fsSL -o "$work/$orig" "$url"; then
      echo "cannot download $url (listed in Debian's Sources index)" >&2
      exit 1
    fi
    if ! echo "$sha  $work/$orig" | sha256sum -c --quiet -; then
      echo "$orig does not match Debian's Sources index" >&2
      exit 1
    fi
    # R CMD INSTALL and the indexer expect CRAN's layout: a gzip tarball whose single top
    # directory is the package. Debian keeps it; a repacked orig may be .tar.xz instead, which
    # is recompressed here with gzip -n (no name or time stamp) so reruns give the same bytes.
    # (sed reads to the end: `head` would stop tar with SIGPIPE, an error under pipefail)
    top="$(tar -tf "$work/$orig" | sed -n 1p)"
    top="${top%%/*}"
    mkdir -p "$(dirname "$target")"
    if [ "$top" != "$cran" ]; then
      # A repack may name its top directory after itself (colorspace's is
      # r-cran-colorspace-2.1-1+dfsg): only a repack (+dfsg, +ds) is re-rooted, with
      # reproducible bytes (sorted names, fixed owner and time stamp, gzip -n).
      case "$version" in
        *+*) ;;
        *)
          echo "$orig: top directory is $top, expected $cran" >&2
          exit 1
          ;;
      esac
      rm -rf "$work/unpacked" && mkdir "$work/unpacked"
      tar -xf "$work/$orig" -C "$work/unpacked"
      mv "$work/unpacked/$top" "$work/unpacked/$cran"
      tar -C "$work/unpacked" --sort=name --mtime='2026-01-01 00:00:00Z' --owner=0 --group=0 \
        --numeric-owner -cf - "$cran" | gzip -n -9 >"$target.part"
    else
      case "$orig" in
        *.tar.gz) cp "$work/$orig" "$target.part" ;;
        *.tar.xz) xz -dc "$work/$orig" | gzip -n -9 >"$target.part" ;;
        *)
          echo "$orig: unexpected compression" >&2
          exit 1
          ;;
      esac
    fi
    mv "$target.part" "$target"
  done
fi

echo "==> writing $contrib/PACKAGES and PACKAGES.gz"
PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" "$python" -m rlambda.recipes.packages_index "$contrib"
echo "==> local CRAN packages ready at $contrib"
