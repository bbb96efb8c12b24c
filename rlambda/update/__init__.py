"""`build.py update`: VERSIONS.toml's pins from upstream. `releases` (one R release or runtime
package from a mirror, VERSIONS.toml written through the one validator), `bases` (base-image
digests from their registries), `cli` (the command, and finding what is new).
"""

from rlambda.update.bases import parse_reference, resolve_digests, write_base_digests
from rlambda.update.cli import add_arguments, find_and_pin, main, parser, run
from rlambda.update.releases import new_r_releases, pin_package, pin_release

__all__ = [
    "add_arguments",
    "find_and_pin",
    "main",
    "new_r_releases",
    "parse_reference",
    "parser",
    "pin_package",
    "pin_release",
    "resolve_digests",
    "run",
    "write_base_digests",
]
