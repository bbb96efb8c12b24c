#!/usr/bin/env python3
"""build.py: the rlambda command run from a checkout. Its code is rlambda/cli.py."""

import sys

# Re-exported: tests and scripts call build.main and reach build.render and build.job.
from rlambda.cli import COMMANDS, job, main, parser, render

__all__ = ["COMMANDS", "job", "main", "parser", "render"]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
