#!/usr/bin/env bash
# The main job on this machine's local stand-ins, end to end:
#   build R from the local CRAN-like mirror on the debootstrapped Debian base, build a recipe
#   on it, run the recipe's events against the image as Lambda runs it (our Runtime API
#   emulator), and push it to "ECR": moto answers the ECR API, and a real docker-registry with
#   htpasswd auth on 127.0.0.1 receives the layers (--registry-endpoint).
# Usage: scripts/demo.sh [RECIPE [R_VERSION]]   (default: json-api 4.5.0; the local mirror
#        carries R 4.5.0 and 4.0.4; recipes: hello, json-api, xml-extract, s3-summary)
set -euo pipefail
cd "$(dirname "$0")/.."
recipe="${1:-json-api}"
r_version="${2:-4.5.0}"
scripts/setup.sh

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cache="$rlambda_cache"
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() {
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "no answer from $1" >&2
  return 1
}

mirror_port="$(free_port)"
echo "==> serving the local CRAN mirror on http://127.0.0.1:$mirror_port"
.venv/bin/python -m http.server "$mirror_port" --bind 127.0.0.1 --directory "$cache/cran-mirror" \
  >/dev/null 2>&1 &
pids+=($!)
mirror="http://127.0.0.1:$mirror_port"
wait_http "$mirror/"

# Debian repacks jsonlite (+dfsg), so its CRAN pin cannot verify here: pin the local mirror's
# release in a copy of VERSIONS.toml, exactly as a user re-pins against their own mirror.
pins="$work/VERSIONS.toml"
cp VERSIONS.toml "$pins"
.venv/bin/python build.py update --package jsonlite --cran-mirror "$mirror" --allow-http \
  --versions-file "$pins"

moto_port="$(free_port)"
echo "==> moto (ECR API) on http://127.0.0.1:$moto_port"
MOTO_LAMBDA_STUB_ECR=false .venv/bin/moto_server -H 127.0.0.1 -p "$moto_port" \
  >"$work/moto.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$moto_port/moto-api/"
export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port" AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo

# The registry accepts what ECR's get_authorization_token hands out (moto's fixed token).
registry_port="$(free_port)"
echo "==> docker-registry (htpasswd auth) on http://127.0.0.1:$registry_port"
.venv/bin/python - "$work/htpasswd.in" <<'PY'
import base64, sys, boto3
data = boto3.client("ecr").get_authorization_token()["authorizationData"][0]
user, password = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)
open(sys.argv[1], "w").write(f"{user}\n{password}\n")
PY
{ read -r user; read -r password; } <"$work/htpasswd.in"
htpasswd -Bbn "$user" "$password" >"$work/htpasswd" 2>/dev/null
rm "$work/htpasswd.in"
cat >"$work/registry.yml" <<YAML
version: 0.1
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$registry_port
auth:
  htpasswd:
    realm: rlambda-demo
    path: $work/htpasswd
YAML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$registry_port/v2/" || true)"
  [ "$code" = 401 ] && break
  sleep 0.1
done

echo "==> build R $r_version + recipe $recipe, test its events, push"
.venv/bin/python build.py --r "$r_version" --family debian --recipe "$recipe" \
  --base-image rlambda-local/debian:bookworm --cran-mirror "$mirror" --versions-file "$pins" \
  --test --push --registry-endpoint "http://127.0.0.1:$registry_port" --json
