#!/bin/sh
# Opt-in, not in CI: checkpoint an initialised R process with CRIU and restore it twice, the
# way Lambda SnapStart restores one snapshot into many environments (issue 27).
#
#   bench/criu_snapstart.sh IMAGE CRIU_ROOT
#
# IMAGE: an image with R and plumber (e.g. r-lambda:r-4.5.0-plumber-api-debian-x86_64).
# CRIU_ROOT: Debian trixie's criu 4.1.1 and its libraries, unpacked (bookworm's CRIU 3.17 fails
# `criu check` on this kernel's vdso). It runs through trixie's own loader, so the image's older
# glibc does not matter. To make it (deb.debian.org, signatures checked by apt):
#   apt-get -o Dir=/tmp/tx ... install --download-only criu  (an empty dpkg status: the closure)
#   for d in /tmp/tx/var/cache/apt/archives/*.deb; do dpkg-deb -x "$d" CRIU_ROOT; done
#
# The container gets what CRIU needs and this machine allows (--privileged is refused here, and
# SYS_RESOURCE is not in its bounding set: restore logs "Can't setup RLIMIT_NOFILE" and goes on).
# The R process loads plumber, calls set.seed(1) and draws once (its "init"), then waits; it is
# dumped, and restored twice from the same images. Each restored process prints its next draw:
# the same number both times, which is why the runtime re-seeds R's RNG after a restore.
set -eu
image=$1
criu_root=$(cd "$2" && pwd)
exec docker run --rm --cap-add SYS_ADMIN --cap-add SYS_PTRACE --cap-add NET_ADMIN \
  --cap-add SYS_TIME --security-opt seccomp=unconfined -v "$criu_root:/opt/criu:ro" \
  --tmpfs /snap --entrypoint sh "$image" -c '
set -u
criu() {
  /opt/criu/usr/lib64/ld-linux-x86-64.so.2 --library-path /opt/criu/usr/lib/x86_64-linux-gnu \
    /opt/criu/usr/sbin/criu "$@"
}
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
setsid /var/lang/bin/Rscript -e "
  t0 <- Sys.time(); suppressMessages(library(plumber))
  cat(\"init_s\", format(as.numeric(Sys.time() - t0)), \"\\n\")
  set.seed(1); x <- runif(1)
  while (!file.exists(\"/tmp/go\")) Sys.sleep(0.01)
  cat(\"draw after restore\", runif(1), \"\\n\")" </dev/null >/tmp/r.out 2>&1 &
pid=$!
while ! grep -q init_s /tmp/r.out 2>/dev/null; do sleep 0.1; done
cat /tmp/r.out
t=$(date +%s%N); criu dump -t "$pid" -D /snap -o dump.log; echo "dump_ms $(ms "$t")"
du -sh /snap | sed "s/^/images /"
# CRIU checks that a regular file it restores has the size it had when dumped.
cp /tmp/r.out /tmp/r.out.dumped
for i in 1 2; do
  cp /tmp/r.out.dumped /tmp/r.out; rm -f /tmp/go
  t=$(date +%s%N); criu restore -D /snap -o "restore$i.log" -d; echo "restore${i}_ms $(ms "$t")"
  touch /tmp/go; sleep 1; tail -n 1 /tmp/r.out
done
'
