#!/usr/bin/env bash
# Build the local stand-in for a Debian-family base image: debootstrap bookworm (minbase) and
# `docker import` it. Docker Hub is unreachable here, so tests and the demo build FROM this.
# Cached by tag: does nothing when the image already exists.
set -euo pipefail

tag="${1:-rlambda-local/debian:bookworm}"
suite="${DEBIAN_SUITE:-bookworm}"

if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "==> base image $tag already present"
  exit 0
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

# Use the Debian mirror this machine's apt already uses.
mirror="$(grep -rhoE 'https?://[^ ]*debian\.org/debian/?' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | head -n1 || true)"
mirror="${mirror:-http://deb.debian.org/debian}"

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
echo "==> debootstrap $suite (minbase) from $mirror"
debootstrap --variant=minbase "$suite" "$root" "$mirror" >/tmp/debootstrap.log 2>&1 \
  || { echo "debootstrap failed; see /tmp/debootstrap.log" >&2; exit 1; }
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
echo "==> docker import as $tag"
tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/bin/bash"]' - "$tag" >/dev/null
echo "==> base image $tag ready"
