"""`python -m rlambda.local.aws_rie`: fetch and verify the binary; print its path.

$RLAMBDA_RIE_ARCH picks the architecture (x86_64 unless set). scripts/setup.sh runs it.
"""

from __future__ import annotations

import os

from rlambda.local.aws_rie.binary import rie_binary


def main() -> int:
    arch = os.environ.get("RLAMBDA_RIE_ARCH", "x86_64")
    print(rie_binary(arch))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
