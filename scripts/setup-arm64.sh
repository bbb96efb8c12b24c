#!/usr/bin/env bash
# Let this x86_64 machine build and run arm64 (Graviton) containers under QEMU: mount
# binfmt_misc when it is missing, install Debian's qemu-user-static, register its aarch64
# handler (these machines have no systemd to do it), and check that an arm64 binary runs.
# Idempotent. Exits 1, saying why, when the host cannot; nothing else depends on it.
# On an arm64 machine nothing is needed: its containers run natively.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cannot() {
  echo "arm64: $*; arm64 images can still be rendered (build.py render --arch arm64) and" \
    "pushed, or built on a native arm64 machine" >&2
  exit 1
}

if [ "$(uname -m)" = aarch64 ]; then
  echo "==> arm64: this machine is arm64; its containers run natively"
  exit 0
fi

binfmt=/proc/sys/fs/binfmt_misc
if [ ! -e "$binfmt/register" ]; then
  mount -t binfmt_misc binfmt_misc "$binfmt" 2>/dev/null \
    || cannot "cannot mount binfmt_misc on $binfmt (needs root on the host, not in a container)"
fi

install_missing --no-install-recommends -- qemu-user-static

# The handler Debian ships (/usr/lib/binfmt.d/qemu-aarch64.conf) has the F flag: the kernel
# opens the interpreter when it is registered, so containers, which cannot see the host's
# /usr/libexec, can use it too (https://docs.kernel.org/admin-guide/binfmt-misc.html).
handler="$binfmt/qemu-aarch64"
if [ -e "$handler" ] && ! grep -q '^flags: .*F' "$handler"; then
  echo "==> arm64: re-registering qemu-aarch64 with the F flag (containers need it)"
  echo -1 >"$handler"
fi
if [ ! -e "$handler" ]; then
  grep -v '^#' /usr/lib/binfmt.d/qemu-aarch64.conf >"$binfmt/register" \
    || cannot "the kernel refused qemu-aarch64's binfmt_misc handler"
fi
grep -qx enabled "$handler" || echo 1 >"$handler"

# The check: a 132-byte static aarch64 program that exits with status 42 (mov x0, #42;
# mov x8, #93 (exit); svc #0), run the way the kernel runs any arm64 binary.
probe="$(mktemp)"
trap 'rm -f "$probe"' EXIT
printf '%b' '\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00' \
  '\x02\x00\xb7\x00\x01\x00\x00\x00\x78\x00\x40\x00\x00\x00\x00\x00' \
  '\x40\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00' \
  '\x00\x00\x00\x00\x40\x00\x38\x00\x01\x00\x00\x00\x00\x00\x00\x00' \
  '\x01\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00' \
  '\x00\x00\x40\x00\x00\x00\x00\x00\x00\x00\x40\x00\x00\x00\x00\x00' \
  '\x84\x00\x00\x00\x00\x00\x00\x00\x84\x00\x00\x00\x00\x00\x00\x00' \
  '\x00\x10\x00\x00\x00\x00\x00\x00\x40\x05\x80\xd2\xa8\x0b\x80\xd2' \
  '\x01\x00\x00\xd4' >"$probe"
chmod +x "$probe"
status=0
"$probe" || status=$?
[ "$status" -eq 42 ] || cannot "an arm64 test binary did not run through qemu-aarch64 (exit $status)"
echo "==> arm64: binaries run under QEMU ($(qemu-aarch64-static --version | head -n1))"
