"""Where sources come from, verified: `fetch` (the content-addressed download cache, sha256 at
every use), `cran` (CRAN mirrors: the one mirror-URL check, listings, the PACKAGES index) and the
parsers their files need, `dcf` (DESCRIPTION and PACKAGES) and `rversion` (R version constraints).
Everything above builds on it; it imports nothing of rlambda but `errors`.
"""
