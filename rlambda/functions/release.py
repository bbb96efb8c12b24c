"""A whole release: deploy, the front doors, then a smoke test that rolls the alias back.

registry.py deploy and build.py --push --deploy NAME both go through `DeployPlan`: the flags
are checked, and the function and role looked at (read-only), before anything is built, pushed
or written.
"""

import sys
from dataclasses import dataclass, replace
from pathlib import Path

from rlambda import aws
from rlambda.functions.deploy import DeployRequest, DeployResult, deploy, preflight
from rlambda.functions.front_doors import UrlSettings, function_url, http_api
from rlambda.functions.invoke import load_event, smoke_test


@dataclass(frozen=True)
class DeployPlan:
    request: DeployRequest  # image_uri and image_arch are filled in once the image is pushed
    url: UrlSettings | None = None
    http_api: bool = False
    smoke_event: Path | None = None
    http_api_auth: str = "AWS_IAM"  # the $default route's authorization (NONE needs --public)

    def check(self, clients: aws.DeployClients) -> None:
        """Everything that can be known wrong before the image exists (no write call)."""
        if self.url is not None:
            self.url.check()
        if self.smoke_event is not None:
            load_event(self.smoke_event)
        preflight(clients, self.request)

    def for_image(self, image_uri: str, arch: str) -> "DeployPlan":
        return replace(self, request=replace(self.request, image_uri=image_uri, image_arch=arch))


def carry_out(clients: aws.DeployClients, plan: DeployPlan) -> tuple[dict, bool]:
    """(the JSON answer, whether the smoke test passed or there was none)."""
    result = deploy_with_front_doors(clients, plan)
    answer = result.to_json()
    if plan.smoke_event is None:
        return answer, True
    invocation, rolled_back = smoke_test(clients.lam, result, plan.smoke_event)
    answer["smoke_test"] = invocation.to_json()
    answer["rolled_back"] = rolled_back.to_json() if rolled_back else None
    return answer, invocation.passed


def deploy_with_front_doors(clients: aws.DeployClients, plan: DeployPlan) -> DeployResult:
    request = plan.request
    result = deploy(clients, request)
    writes: list[str] = []
    if plan.url is not None:
        result.function_url = function_url(
            clients.lam, request.function, request.alias, plan.url, writes
        )
    if plan.http_api:
        result.http_api_url = http_api(
            clients, request.function, result.target_arn, writes, plan.http_api_auth
        )
    for line in writes:
        print(f"==> {request.function}: {line}", file=sys.stderr)
    result.writes += writes
    return result
