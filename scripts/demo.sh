#!/usr/bin/env bash
# The main job on this machine's local stand-ins: build R from the local CRAN-like mirror on the
# debootstrapped Debian base, then run R in the image the way Lambda runs it.
# Usage: scripts/demo.sh [R_VERSION]   (default 4.5.0; the local mirror has 4.5.0 and 4.0.4)
set -euo pipefail
cd "$(dirname "$0")/.."
r_version="${1:-4.5.0}"
scripts/setup.sh

mirror_dir="${XDG_CACHE_HOME:-$HOME/.cache}/rlambda/cran-mirror"
port=8765
echo "==> serving the local CRAN mirror on http://127.0.0.1:$port"
.venv/bin/python -m http.server "$port" --bind 127.0.0.1 --directory "$mirror_dir" \
  >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
  curl -fsS -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null && break
  sleep 0.1
done

.venv/bin/python build.py --r "$r_version" --family debian \
  --base-image rlambda-local/debian:bookworm --cran-mirror "http://127.0.0.1:$port"

image="r-lambda:r-$r_version-debian-x86_64"
echo "==> running R in $image as Lambda would (uid 993, read-only root, tmpfs /tmp, 512 MB)"
docker run --rm --user 993:990 --read-only --tmpfs /tmp:size=64m --memory 512m \
  --network none "$image" \
  Rscript -e 'cat(R.version.string, "\n"); cat("tempdir:", tempdir(), "\n"); print(sessionInfo()$basePkgs)'
