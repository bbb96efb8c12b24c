#!/usr/bin/env bash
# Set up a fresh Debian 12 machine for building and testing (idempotent; fast when done):
# host packages, the project's venv, a running Docker engine, the debootstrapped Debian base
# image and the local CRAN-like mirror - the stand-ins for what this machine cannot reach.
set -euo pipefail
cd "$(dirname "$0")/.."

# docker-compose: v1, for pytest-docker; R with jsonlite and testthat: the runtime client's unit
# tests and its end-to-end tests as a local process; docker-registry and apache2-utils
# (htpasswd): the local registry the push tests use; jq: the workflow step the tests run.
host_packages=(
  docker.io docker-compose debootstrap curl ca-certificates jq
  r-base-core r-cran-jsonlite r-cran-testthat
  docker-registry apache2-utils
)
missing=()
for package in "${host_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> installing ${missing[*]} from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  python3 -m venv .venv
fi
echo "==> installing the project and its test tools into .venv"
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'

scripts/start-docker.sh
scripts/make-debian-base.sh
scripts/make-local-mirror.sh
