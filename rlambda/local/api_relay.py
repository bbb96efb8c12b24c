"""The relay that is a network-less container's only way in or out (api_relay.c).

Lambda-like containers run with `network_mode="none"`: a loopback interface only, so recipe
code and R packages reach neither the host's services (its loopback included), nor the
instance metadata address, nor the internet. `rlambda-relay` is bind-mounted read-only into
the container as its entrypoint's wrapper: it listens inside, forwards each connection
through a Unix socket in a bind-mounted host directory, and execs the image's own
ENTRYPOINT + CMD in its place (see the C source for the details).
- DockerRuntime: listens on 127.0.0.1:9001 (Lambda's own AWS_LAMBDA_RUNTIME_API) and forwards
  to the emulator, which serves the Runtime API on that Unix socket too.
- AwsRie: the other way round: listens on a Unix socket and forwards to RIE's 127.0.0.1:8080.

The binary is compiled on first use with the host's gcc (`-static`: libc only, so it runs in
any image, AWS's bases included) and cached under the cache directory by the hash of its
source and the compiler's version; compiling takes ~0.2 s. The sha256 of what was built is
recorded beside it (`<binary>.sha256`) and the binary is hashed again on every use, as every
download is (rlambda/sources/fetch.py): the cache is a directory anyone with the user's rights
can write to, and this binary runs first in every container. One that no longer matches is
removed and built again, with a warning (hashing it: ~1 ms for its ~800 KB).

Architecture: the binary is the host's. The kernel runs it natively in any container, also
in one for another architecture under QEMU (binfmt_misc handles only foreign binaries; the
entrypoint the relay execs is one, and goes through QEMU as it would without the relay). An
engine on another machine of another architecture could not run it: refused by name.
"""

from __future__ import annotations

import functools
import hashlib
import platform
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

from rlambda.errors import JobError
from rlambda.sources.fetch import cache_dir, sha256_file

SOURCE = Path(__file__).with_name("api_relay.c")
RELAY_PATH = "/rlambda-relay"  # where containers see the binary
SOCKET_DIR = "/rlambda-api"  # where containers see the bind-mounted socket directory
RUNTIME_API = "127.0.0.1:9001"  # Lambda's own AWS_LAMBDA_RUNTIME_API
GCC_FLAGS = ("-static", "-O2", "-Wall")
SETUP_HINT = "install gcc and libc6-dev (apt-get install gcc libc6-dev; scripts/setup.sh does)"


def _gcc() -> str:
    gcc = shutil.which("gcc")
    if gcc is None:
        raise JobError(f"the containers' network relay is compiled on first use: {SETUP_HINT}")
    return gcc


@functools.cache
def _version(gcc: str) -> str:
    run = subprocess.run([gcc, "-dumpfullversion"], capture_output=True, text=True, check=False)
    return run.stdout.strip()


def relay_binary(cache: Path | None = None) -> Path:
    """The compiled relay for this machine, built now if the cache has none for its source."""
    gcc = _gcc()
    version = _version(gcc)
    digest = hashlib.sha256(SOURCE.read_bytes())
    digest.update(f"\0{version}\0{' '.join(GCC_FLAGS)}\0{platform.machine()}".encode())
    store = (cache or cache_dir()) / "api-relay"
    target = store / f"rlambda-relay-{platform.machine()}-{digest.hexdigest()[:16]}"
    record = target.with_name(f"{target.name}.sha256")
    if target.is_file():
        actual = sha256_file(target)
        recorded = record.read_text().strip() if record.is_file() else None
        if actual == recorded:
            return target
        print(
            f"warning: the cached relay {target} "
            + (
                f"no longer matches the sha256 recorded when it was built:\n"
                f"  recorded sha256 {recorded}\n  got      sha256 {actual}\n"
                "Something changed the cache (disk trouble, or someone with write access to "
                "it: check who can write to ~/.cache/rlambda, or $RLAMBDA_CACHE)."
                if recorded
                else "has no recorded sha256 (built before they were recorded)."
            )
            + " It is removed and built again.",
            file=sys.stderr,
            flush=True,
        )
        target.unlink()
    store.mkdir(parents=True, exist_ok=True)
    tmp = store / f".build-{secrets.token_hex(8)}"
    tmp_record = tmp.with_name(f"{tmp.name}.sha256")
    try:
        built = subprocess.run(
            [gcc, *GCC_FLAGS, "-o", str(tmp), str(SOURCE)],
            capture_output=True,
            text=True,
            check=False,
        )
        if built.returncode != 0:
            raise JobError(
                f"cannot compile {SOURCE.name} with {gcc} {' '.join(GCC_FLAGS)}: "
                f"{built.stderr.strip()[-600:]}\n{SETUP_HINT} (-static needs libc6-dev's libc.a)"
            )
        tmp.chmod(0o755)
        tmp_record.write_text(sha256_file(tmp) + "\n")
        # The record first: a binary is never in place without the hash of what was built.
        # Concurrent builders write the same bytes; a reader that sees one builder's record
        # with the other's binary finds them equal.
        tmp_record.replace(record)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
        tmp_record.unlink(missing_ok=True)
    return target


def check_engine_architecture(engine_arch: str) -> None:
    """Refuse an engine whose kernel cannot run the host's binary (a remote engine)."""
    host = platform.machine()
    aliases = {"amd64": "x86_64", "arm64": "aarch64"}
    if aliases.get(engine_arch, engine_arch) != aliases.get(host, host):
        raise JobError(
            f"the Docker engine runs on {engine_arch} but this machine is {host}: the network "
            "relay of the Lambda-like containers is compiled here for this machine (and their "
            "bind mounts need the engine on it too); use an engine on this machine"
        )


def relay_command(listen: str, target: str, *, report_exec_failure: bool) -> list[str]:
    """The entrypoint prefix: the relay, then the image's ENTRYPOINT + CMD after `--`."""
    return [RELAY_PATH, *(["-e"] if report_exec_failure else []), listen, target, "--"]
