#!/usr/bin/env bash
# Set up a fresh Debian 12 machine for building and testing (idempotent; fast when done):
# host packages, the project's venv, a running Docker engine, the debootstrapped Debian base
# image and the local CRAN-like mirror - the stand-ins for what this machine cannot reach.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The engine as checked to work here (with its recommended packages); docker-compose v1 for
# pytest-docker; docker-registry and apache2-utils (htpasswd): the local registry the push tests
# and the demo use; jq: the workflow step the tests run.
install_missing -- docker.io docker-compose debootstrap curl ca-certificates jq \
  docker-registry apache2-utils
# gcc and libc6-dev (libc.a): the Lambda-like containers' network relay is compiled statically
# on first use (rlambda/local/api_relay.py).
install_missing --no-install-recommends -- gcc libc6-dev
# R with jsonlite and testthat, for the runtime client's unit tests and its end-to-end tests as a
# local process; without recommends, which would add compilers and R's recommended packages.
# plumber: the runtime's in-process plumber routing (runtime/tests/testthat/test-plumber.R).
install_missing --no-install-recommends -- r-base-core r-cran-jsonlite r-cran-testthat \
  r-cran-plumber
# The lambdaparallel client (parallel/) on the host, for its tests and benchmarks: its imports,
# the foreach and future front ends it serves, doParallel for the comparison benchmark; and
# libcurl's headers, to compile the curl package from the local mirror as recipe builds do.
install_missing --no-install-recommends -- r-cran-foreach r-cran-future r-cran-future.apply \
  r-cran-furrr r-cran-globals r-cran-curl r-cran-openssl r-cran-digest r-cran-doparallel \
  r-cran-progressr libcurl4-openssl-dev libssl-dev

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  python3 -m venv .venv
fi
# The test tools and the project's dependencies from their hash-locked list (written by
# scripts/lock-ci-requirements.sh, like the AWS jobs' ci.txt): a package replaced on PyPI, or a
# release nobody reviewed, never runs here or in the PR job. Then the project itself, editable,
# with nothing else fetched: no dependencies, and the locked setuptools as its build backend.
echo "==> installing the hash-locked test tools (.github/requirements/test.txt) into .venv"
.venv/bin/pip install -q --disable-pip-version-check --require-hashes \
  -r .github/requirements/test.txt
echo "==> installing the project into .venv (editable)"
.venv/bin/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .

scripts/start-docker.sh
scripts/make-debian-base.sh
# arm64 (Graviton) under QEMU, and the arm64 Debian base of the arm64 check every test run makes
# (tests/docker/test_arm64.py). A host that cannot is told why, and the rest goes on.
if scripts/setup-arm64.sh; then
  scripts/make-debian-base.sh rlambda-local/debian:bookworm-arm64 arm64
fi
scripts/make-local-mirror.sh
scripts/make-local-cran-packages.sh
# AWS's RIE (the second judge of `build.py test --emulator aws`): the pinned aws-sam-cli wheel
# from PyPI into the verified cache, its binary extracted and checked
# (rlambda/local/aws_rie/binary.py).
echo "==> AWS's RIE: $(.venv/bin/python -m rlambda.local.aws_rie)"
