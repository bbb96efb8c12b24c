#!/usr/bin/env bash
# Lock the CI toolchain with hashes: .github/requirements/ci.txt (the project's dependencies,
# from pyproject.toml), test.txt (those and the test tools, its [test] extra, and setuptools to
# install the project editable: what scripts/setup.sh installs, for the PR job and .ci/run) and
# pip-tools.txt (pip-compile itself, for the pin-update workflow). They are installed with
# `pip install --require-hashes`, so a package replaced on PyPI, or a new release nobody
# reviewed, never runs in a job that can assume the AWS role, nor in the tests.
# Run from anywhere; needs pip-tools (`pip install pip-tools`). --upgrade: newest releases.
set -euo pipefail
cd "$(dirname "$0")/.."
# PyPI only: no local indexes, wheel directories or constraints from this machine's pip config.
export PIP_CONFIG_FILE=/dev/null
compile=(pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras
  --no-emit-index-url --no-emit-find-links "$@")
"${compile[@]}" --output-file .github/requirements/ci.txt pyproject.toml
"${compile[@]}" --extra test --build-deps-for editable --output-file .github/requirements/test.txt \
  pyproject.toml
"${compile[@]}" --output-file .github/requirements/pip-tools.txt .github/requirements/pip-tools.in
