"""The HTTP API in front of a function (moto): its route needs IAM unless --public was asked for,
and a route an earlier version left open is closed on the next deploy."""

import io
import json
import zipfile

import boto3

from rlambda import aws as aws_api
from rlambda.functions.front_doors import http_api
from tests.registry.stand_ins import REGION


def _function(lambda_client) -> str:
    iam = boto3.client("iam", region_name=REGION)
    trust = {"Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole"}]}  # fmt: skip
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return event\n")
    made = lambda_client.create_function(
        FunctionName="fn", Runtime="python3.12", Role=role["Arn"], Handler="index.handler",
        Code={"ZipFile": code.getvalue()},
    )  # fmt: skip
    return made["FunctionArn"]


def _route(gw) -> dict:
    (api,) = gw.get_apis()["Items"]
    (route,) = gw.get_routes(ApiId=api["ApiId"])["Items"]
    return route


def test_the_route_needs_iam_and_an_open_one_is_closed(aws, lambda_client, capsys):
    arn = _function(lambda_client)
    clients = aws_api.DeployClients.make(REGION)
    gw = boto3.client("apigatewayv2", region_name=REGION)

    writes: list[str] = []
    http_api(clients, "fn", arn, writes)
    assert _route(gw)["AuthorizationType"] == "AWS_IAM"
    assert "warning" not in capsys.readouterr().err

    # What an earlier version made: an open route. The next deploy closes it.
    api_id = gw.get_apis()["Items"][0]["ApiId"]
    gw.update_route(ApiId=api_id, RouteId=_route(gw)["RouteId"], AuthorizationType="NONE")
    writes.clear()
    http_api(clients, "fn", arn, writes)
    assert _route(gw)["AuthorizationType"] == "AWS_IAM"
    assert writes == ["pointed the $default route at the function (authorization AWS_IAM)"]

    writes.clear()
    http_api(clients, "fn", arn, writes, auth="NONE")  # --auth NONE --public
    assert _route(gw)["AuthorizationType"] == "NONE"
    assert "warning: the HTTP API has auth NONE" in capsys.readouterr().err
