"""A whole release: deploy, the front doors, then a smoke test that rolls the alias back.

registry.py deploy and build.py --push --deploy NAME both go through `DeployPlan`: the flags
are checked, and the function and role looked at (read-only), before anything is built, pushed
or written.
"""

import sys
from dataclasses import dataclass, replace
from pathlib import Path

from rlambda import aws
from rlambda.errors import HalfDone, JobError, UsageError
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
    try:
        invocation, rolled_back = smoke_test(clients.lam, result, plan.smoke_event)
    except (UsageError, JobError) as e:
        # The deploy itself is done: say so, and that nothing judged it.
        not_done = ["the smoke test"]
        if result.alias_moved:
            not_done.append(
                f"rolling alias {result.alias} back if it failed (it points at version"
                f" {result.version}; registry.py deploy --rollback --alias {result.alias})"
            )
        done = result.writes or ["the deploy (nothing to change)"]
        raise HalfDone.wrap(e, done, not_done) from None
    answer["smoke_test"] = invocation.to_json()
    answer["rolled_back"] = rolled_back.to_json() if rolled_back else None
    return answer, invocation.passed


def deploy_with_front_doors(clients: aws.DeployClients, plan: DeployPlan) -> DeployResult:
    request = plan.request
    result = deploy(clients, request)
    writes: list[str] = []
    left = (["the function URL"] if plan.url else []) + (["the HTTP API"] if plan.http_api else [])
    try:
        if plan.url is not None:
            result.function_url = function_url(
                clients.lam, request.function, request.alias, plan.url, writes
            )
            left.remove("the function URL")
        if plan.http_api:
            result.http_api_url = http_api(
                clients, request.function, result.target_arn, writes, plan.http_api_auth
            )
    except (UsageError, JobError) as e:
        done = result.writes + writes or ["the deploy (nothing to change)"]
        raise HalfDone.wrap(e, done, left) from None
    for line in writes:
        print(f"==> {request.function}: {line}", file=sys.stderr)
    result.writes += writes
    return result
