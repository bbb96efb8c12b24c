#!/usr/bin/env bash
# Set up a fresh Debian 12 machine for building and testing (idempotent; fast when done):
# host packages, the project's venv, a running Docker engine, the debootstrapped Debian base
# image and the local CRAN-like mirror - the stand-ins for what this machine cannot reach.
set -euo pipefail
cd "$(dirname "$0")/.."

host_packages=(docker.io debootstrap curl ca-certificates)
missing=()
for package in "${host_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> installing ${missing[*]} from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
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
