"""The facts every step shares: `versions` (VERSIONS.toml: load, validate, resolve, including
AWS's RIE pin) and `platforms` (the one family table: base images, package managers, the
toolchain and runtime packages of each family). `build.py update` writes the pins
(rlambda/update/).
"""
