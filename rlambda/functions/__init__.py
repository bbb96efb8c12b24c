"""Lambda functions from pushed images: deploy, roles, front doors, invoke, release, layers.

registry.py deploy, invoke and publish-layer, and build.py --deploy. This package may import
rlambda.registry (ECR) and rlambda.local; neither imports it.
"""
