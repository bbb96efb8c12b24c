# shellcheck shell=bash disable=SC2034
# Sourced by the scripts in scripts/ (not run): what they share.
#   rlambda_cache   where rlambda keeps downloads, logs and the local mirror: $RLAMBDA_CACHE,
#                   else $XDG_CACHE_HOME/rlambda, else ~/.cache/rlambda, as
#                   rlambda.sources.fetch.cache_dir decides (tests/unit/test_scripts.py checks they agree)
#   debian_mirror   the Debian archive apt is configured with (no trailing slash), else
#                   deb.debian.org: the only archive this machine may reach may be a proxy
#   install_missing [apt-get options] -- PACKAGE...   install the Debian packages not yet installed

rlambda_cache="${RLAMBDA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rlambda}"

debian_mirror="$(grep -rhoE 'https?://[^ ]*debian\.org/debian/?' /etc/apt/sources.list \
  /etc/apt/sources.list.d/ 2>/dev/null | head -n1 || true)"
debian_mirror="${debian_mirror:-http://deb.debian.org/debian}"
debian_mirror="${debian_mirror%/}"

# install_missing [apt-get options] -- PACKAGE...: install the packages not yet installed.
install_missing() {
  local options=()
  while [ "$1" != -- ]; do options+=("$1"); shift; done
  shift
  local absent=()
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
      || absent+=("$package")
  done
  [ "${#absent[@]}" -eq 0 ] && return 0
  echo "==> installing ${absent[*]} from Debian"
  [ -n "${apt_updated:-}" ] || { apt-get update -qq; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${options[@]}" "${absent[@]}" >/dev/null
}
