"""The ways in from the web: a function URL, or an API Gateway HTTP API. Both idempotent.

Each step reads first and writes only what is missing or different, so a second deploy of the
same thing makes no write call.
"""

import json
import sys
from dataclasses import dataclass

import botocore.exceptions

from rlambda import aws
from rlambda.errors import UsageError

AUTH_TYPES = ("AWS_IAM", "NONE")
# Statement ids this project owns in the function's resource policy.
PUBLIC_URL_SIDS = ("rlambda-url-public", "rlambda-url-public-invoke")


def check_auth(auth: str, public: bool) -> None:
    """--auth and --public, for the function URL and the HTTP API's route alike: AWS_IAM unless
    the caller says, with --public, that anyone on the internet may invoke the function."""
    if auth not in AUTH_TYPES:
        raise UsageError(f"--auth {auth!r}: expected one of {', '.join(AUTH_TYPES)}")
    if auth == "NONE" and not public:
        raise UsageError(
            "--auth NONE makes the function URL or HTTP API callable by anyone on the internet,"
            " billed to you: pass --public as well to say that is what you want"
        )
    if public and auth != "NONE":
        raise UsageError("--public only goes with --auth NONE")


def warn_public(what: str) -> None:
    print(
        f"warning: the {what} has auth NONE: anyone who finds it can invoke the function,"
        " billed to this account",
        file=sys.stderr,
    )


@dataclass(frozen=True)
class UrlSettings:
    auth: str = "AWS_IAM"
    public: bool = False  # the explicit consent that auth NONE needs
    cors_origins: tuple[str, ...] = ()
    cors_methods: tuple[str, ...] = ()
    cors_headers: tuple[str, ...] = ()
    cors_max_age: int | None = None

    def check(self) -> None:
        check_auth(self.auth, self.public)
        if not self.cors_origins and (self.cors_methods or self.cors_headers or self.cors_max_age):
            raise UsageError("CORS options need at least one --cors-origin")

    def cors(self) -> dict | None:
        if not self.cors_origins:
            return None
        cors = {"AllowOrigins": list(self.cors_origins)}
        if self.cors_methods:
            cors["AllowMethods"] = list(self.cors_methods)
        if self.cors_headers:
            cors["AllowHeaders"] = list(self.cors_headers)
        if self.cors_max_age is not None:
            cors["MaxAge"] = self.cors_max_age
        return cors


def _same_cors(current: dict | None, wanted: dict | None) -> bool:
    # Lambda fills in the keys not given (empty lists, False); only the ones asked for count.
    current = {k: v for k, v in (current or {}).items() if v not in ([], None, False, 0)}
    return current == (wanted or {})


def _policy_sids(lam, function: str, qualifier: str | None) -> set[str]:
    kwargs = {"FunctionName": function} | ({"Qualifier": qualifier} if qualifier else {})
    try:
        policy = json.loads(lam.get_policy(**kwargs)["Policy"])
    except botocore.exceptions.ClientError as e:
        if aws.code(e) == "ResourceNotFoundException":
            return set()
        raise
    return {s.get("Sid") for s in policy.get("Statement", [])}


def function_url(
    lam, function: str, alias: str | None, settings: UrlSettings, writes: list[str]
) -> str:
    """Create or correct the function URL of `function` (on `alias` when given); its URL."""
    if settings.auth == "NONE":
        warn_public("function URL")
    qualifier = {"Qualifier": alias} if alias else {}
    wanted = {"AuthType": settings.auth} | ({"Cors": settings.cors()} if settings.cors() else {})
    try:
        try:
            current = lam.get_function_url_config(FunctionName=function, **qualifier)
        except botocore.exceptions.ClientError as e:
            if aws.code(e) != "ResourceNotFoundException":
                raise
            current = None
        if current is None:
            current = lam.create_function_url_config(FunctionName=function, **qualifier, **wanted)
            writes.append(f"created a function URL (auth {settings.auth})")
        elif current.get("AuthType") != settings.auth or not _same_cors(
            current.get("Cors"), settings.cors()
        ):
            update = dict(wanted)
            if not settings.cors():
                update["Cors"] = {}  # clear CORS that is no longer asked for
            current = lam.update_function_url_config(FunctionName=function, **qualifier, **update)
            writes.append(f"updated the function URL (auth {settings.auth})")
        _url_permissions(lam, function, alias, settings.auth, writes)
    except botocore.exceptions.ClientError as e:
        raise aws.explain(e, f"setting up the function URL of {function}") from None
    return current["FunctionUrl"]


def _url_permissions(lam, function: str, alias: str | None, auth: str, writes: list[str]) -> None:
    """Auth NONE needs the resource policy to let anyone in; AWS_IAM must not keep that grant.

    Since October 2025 a new function URL needs both lambda:InvokeFunctionUrl and
    lambda:InvokeFunction (AWS, "Control access to Lambda function URLs").
    """
    qualifier = {"Qualifier": alias} if alias else {}
    present = _policy_sids(lam, function, alias) & set(PUBLIC_URL_SIDS)
    if auth == "NONE":
        statements = {
            PUBLIC_URL_SIDS[0]: {
                "Action": "lambda:InvokeFunctionUrl",
                "FunctionUrlAuthType": "NONE",
            },
            PUBLIC_URL_SIDS[1]: {"Action": "lambda:InvokeFunction", "InvokedViaFunctionUrl": True},
        }
        for sid, statement in statements.items():
            if sid not in present:
                lam.add_permission(
                    FunctionName=function, StatementId=sid, Principal="*", **qualifier, **statement
                )
                writes.append(f"granted public {statement['Action']}")
    else:
        for sid in sorted(present):
            lam.remove_permission(FunctionName=function, StatementId=sid, **qualifier)
            writes.append(f"removed the public grant {sid}")


def http_api(
    clients: "aws.DeployClients",
    function: str,
    target_arn: str,
    writes: list[str],
    auth: str = "AWS_IAM",
) -> str:
    """An HTTP API whose default route sends every request to `target_arn`; its endpoint.

    Found again by name (rlambda-FUNCTION[-ALIAS]); integration, route, stage and permission are
    each checked and made only when missing or different. The route's authorization is `auth`:
    AWS_IAM (callers sign with SigV4 and need execute-api:Invoke) unless NONE was asked for
    with --public. A route made open by an earlier version of this tool is closed again.
    """
    if auth == "NONE":
        warn_public("HTTP API")
    api_gw, lam = clients.apigw, clients.lam
    qualifier = target_arn.split(":")[7] if target_arn.count(":") == 7 else None
    name = f"rlambda-{function}" + (f"-{qualifier}" if qualifier else "")
    try:
        api = _find_api(api_gw, name)
        if api is None:
            api = api_gw.create_api(
                Name=name, ProtocolType="HTTP", Tags={"rlambda:function": target_arn}
            )
            writes.append(f"created HTTP API {name}")
        api_id = api["ApiId"]
        integration = next(
            (
                i
                for i in api_gw.get_integrations(ApiId=api_id).get("Items", [])
                if i.get("IntegrationType") == "AWS_PROXY" and i.get("IntegrationUri") == target_arn
            ),
            None,
        )
        if integration is None:
            integration = api_gw.create_integration(
                ApiId=api_id,
                IntegrationType="AWS_PROXY",
                IntegrationUri=target_arn,
                PayloadFormatVersion="2.0",
            )
            writes.append("created the Lambda integration")
        target = f"integrations/{integration['IntegrationId']}"
        routes = api_gw.get_routes(ApiId=api_id).get("Items", [])
        route = next((r for r in routes if r.get("RouteKey") == "$default"), None)
        if route is None:
            api_gw.create_route(
                ApiId=api_id, RouteKey="$default", Target=target, AuthorizationType=auth
            )
            writes.append(f"created the $default route (authorization {auth})")
        elif route.get("Target") != target or route.get("AuthorizationType", "NONE") != auth:
            api_gw.update_route(
                ApiId=api_id, RouteId=route["RouteId"], Target=target, AuthorizationType=auth
            )
            writes.append(f"pointed the $default route at the function (authorization {auth})")
        stages = api_gw.get_stages(ApiId=api_id).get("Items", [])
        if not any(s.get("StageName") == "$default" for s in stages):
            api_gw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
            writes.append("created the $default stage (auto-deploy)")
    except botocore.exceptions.ClientError as e:
        raise aws.explain(e, f"setting up the HTTP API {name}") from None
    _api_permission(lam, clients.region, function, qualifier, target_arn, api_id, writes)
    return api.get("ApiEndpoint") or f"https://{api_id}.execute-api.{clients.region}.amazonaws.com"


def _find_api(api_gw, name: str) -> dict | None:
    token = None
    while True:
        page = api_gw.get_apis(**({"NextToken": token} if token else {}))
        for api in page.get("Items", []):
            if api.get("Name") == name and api.get("ProtocolType") == "HTTP":
                return api
        token = page.get("NextToken")
        if not token:
            return None


def _api_permission(lam, region, function, qualifier, target_arn, api_id, writes) -> None:
    account = target_arn.split(":")[4]
    sid = f"rlambda-http-api-{api_id}"
    try:
        if sid in _policy_sids(lam, function, qualifier):
            return
        lam.add_permission(
            FunctionName=function,
            StatementId=sid,
            Action="lambda:InvokeFunction",
            Principal="apigateway.amazonaws.com",
            # Any stage and route of this one API, and nothing else.
            SourceArn=f"arn:aws:execute-api:{region}:{account}:{api_id}/*",
            **({"Qualifier": qualifier} if qualifier else {}),
        )
    except botocore.exceptions.ClientError as e:
        raise aws.explain(e, f"letting API Gateway invoke {function}") from None
    writes.append("let API Gateway invoke the function")
