#!/usr/bin/env bash
# Build the local stand-in for a Debian-family base image: debootstrap bookworm (minbase) and
# `docker import` it. Docker Hub is unreachable here, so tests and the demo build FROM this.
# Cached by tag: does nothing when the image already exists.
# Usage: make-debian-base.sh [TAG [ARCH]]   ARCH: a Debian architecture (default: this machine's);
# a foreign one (arm64 on amd64) needs qemu-user-static with binfmt_misc enabled.
set -euo pipefail

tag="${1:-rlambda-local/debian:bookworm}"
arch="${2:-$(dpkg --print-architecture)}"
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
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mirror="$debian_mirror"

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
echo "==> debootstrap $suite (minbase, $arch) from $mirror"
if [ "$arch" = "$(dpkg --print-architecture)" ]; then
  debootstrap --variant=minbase "$suite" "$root" "$mirror" >/tmp/debootstrap.log 2>&1 \
    || { echo "debootstrap failed; see /tmp/debootstrap.log" >&2; exit 1; }
else
  # Unpack on the host, then run the packages' scripts inside the new root under QEMU.
  if ! { debootstrap --foreign --arch="$arch" --variant=minbase "$suite" "$root" "$mirror" \
    >/tmp/debootstrap.log 2>&1 \
    && chroot "$root" /debootstrap/debootstrap --second-stage >>/tmp/debootstrap.log 2>&1; }; then
    echo "debootstrap ($arch) failed; see /tmp/debootstrap.log (is qemu-user-static's" \
      "binfmt handler enabled?)" >&2
    exit 1
  fi
fi
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

# FROM scratch + ADD of the root filesystem rather than `docker import`: the classic builder
# records the --platform architecture in the image, which this engine's import does not.
context="$(mktemp -d)"
trap 'rm -rf "$root" "$context"' EXIT
tar -C "$root" -cf "$context/rootfs.tar" .
cat >"$context/Dockerfile" <<'DOCKERFILE'
FROM scratch
ADD rootfs.tar /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["/bin/bash"]
DOCKERFILE
echo "==> building $tag (linux/$arch) from the root filesystem"
DOCKER_BUILDKIT=0 docker build -q --platform "linux/$arch" -t "$tag" "$context" >/dev/null
echo "==> base image $tag ready"
