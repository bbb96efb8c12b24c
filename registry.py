#!/usr/bin/env python3
"""Push R images to Amazon ECR, deploy them to Lambda functions, invoke those.

  python registry.py push r-lambda:r-4.5.0-debian-x86_64 --region eu-west-1 [--json]
  python registry.py deploy --function NAME --image-uri ACCT.dkr.ecr.REGION.amazonaws.com/REPO@… \
      [--create-role | --role ARN] [--alias live] [--function-url] [--http-api]
  python registry.py deploy --function NAME --rollback --alias live
  python registry.py invoke --function NAME [--alias live] --event FILE

`python registry.py --help` explains the tags and options. Exit status: 0 ok, 1 the job failed,
2 bad input.
"""

import sys

from rlambda.registry_cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
