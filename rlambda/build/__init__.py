"""The build: pins to a tagged image.

`versions` (VERSIONS.toml: load, validate, resolve), `fetch` (the verified, content-addressed
download cache), `render` (Dockerfile.base and Dockerfile.recipe into images/), `context` (the
reproducible build context and its content hash), `engine` (the Docker SDK), `builder` (base
and recipe images), `platforms` (the one family table), `tags` (image names and tags).
"""
