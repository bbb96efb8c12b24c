"""The build: a resolved Target (rlambda/target/resolve.py) to a tagged image.

`render` (Dockerfile.base and Dockerfile.recipe into images/), `context` (the reproducible build
context and its content hash), `engine` (the Docker SDK: build, tag, copy out of an image, run a
probe), `builder` (base and recipe images), `tags` (image names and tags), `sbom`, `layer` and
`layer_zip` (Lambda layers from a built image). The pins and the family table are in
rlambda/pins/, the verified download cache in rlambda/sources/.
"""
