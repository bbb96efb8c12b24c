"""A local Lambda service: Lambda's Invoke API (and an HTTP front) for images built here, with
a pool of up to N Lambda-like environments per function. `python build.py serve --help`.

    from rlambda.local.service import FunctionSpec, Service
    with Service([FunctionSpec("hello", IMAGE)], concurrency=4) as service:
        client = boto3.client("lambda", endpoint_url=service.endpoint_url, region_name="us-east-1")
"""

from .pool import FunctionSpec
from .service import Service, ServiceError
from .sigv4 import Verifier

__all__ = ["FunctionSpec", "Service", "ServiceError", "Verifier"]
