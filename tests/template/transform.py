#!/usr/bin/env python3
"""Transforms a SAM template with the SAM translator (PyPI aws-sam-translator, what `sam`
itself runs) and prints the CloudFormation template it makes, as JSON, on stdout.

With --moto-endpoint URL it also builds every REST API of the result in moto's API
Gateway (moto[server] at URL): CreateRestApi, then one CreateResource per path part of
every path of the API's OpenAPI body, parents first, then PutMethod for each method (with
a COGNITO_USER_POOLS authorizer where the method names one). What moto accepted and
refused goes out beside the template:

    {"template": {...}, "moto": {"<api logical id>": {"created": [paths], "methods": [...],
                                                      "errors": ["<path>: <message>"]}}}

Used by tests/tests/the_template_deploys_a_protected_rest_api.rs, which holds the result
against the api crate's route table. Exits non-zero, saying why, when the translator
refuses the template.

    python3 tests/template/transform.py template.yaml [--moto-endpoint http://127.0.0.1:5000]
"""

import argparse
import logging
import json
import os
import sys

from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

# The code is built by `sam build`; the translator only wants an S3 location.
FAKE_CODE_URI = "s3://cruddur-build/code.zip"
REGION = "us-east-1"

# The translator warns about feature toggles it was not given; only errors matter here.
logging.getLogger("samtranslator").setLevel(logging.ERROR)


def with_s3_code(template):
    """The template with every function's code (and the Globals') at FAKE_CODE_URI."""
    function_globals = template.get("Globals", {}).get("Function", {})
    if "CodeUri" in function_globals:
        function_globals["CodeUri"] = FAKE_CODE_URI
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            properties = resource.setdefault("Properties", {})
            if "CodeUri" in properties or "CodeUri" not in function_globals:
                properties["CodeUri"] = FAKE_CODE_URI
    return template


def transform(path):
    with open(path, encoding="utf-8") as file:
        template = with_s3_code(yaml_parse(file.read()))
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    translator = Translator(managed_policy_map={}, sam_parser=Parser())
    try:
        return translator.translate(sam_template=template, parameter_values={}, passthrough_metadata=True)
    except InvalidDocumentException as error:
        causes = "; ".join(cause.message for cause in error.causes)
        sys.exit(f"the SAM translator refuses {path}: {causes}")


def build_in_moto(endpoint, template):
    """Builds each AWS::ApiGateway::RestApi's resources and methods in moto."""
    import boto3

    client = boto3.client(
        "apigateway",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    report = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::ApiGateway::RestApi":
            continue
        body = resource["Properties"]["Body"]
        api_id = client.create_rest_api(name=logical_id)["id"]
        root = next(r for r in client.get_resources(restApiId=api_id)["items"] if r["path"] == "/")
        authorizers = {}
        schemes = body.get("components", {}).get("securitySchemes", {})
        schemes.update(body.get("securityDefinitions", {}))
        for name, scheme in schemes.items():
            authorizer = scheme.get("x-amazon-apigateway-authorizer", {})
            if authorizer.get("type") == "cognito_user_pools":
                authorizers[name] = client.create_authorizer(
                    restApiId=api_id,
                    name=name,
                    type="COGNITO_USER_POOLS",
                    providerARNs=["arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Example1"],
                    identitySource="method.request.header.Authorization",
                )["id"]
        ids = {"/": root["id"]}
        created, methods, errors = [], [], []
        for path in sorted(body["paths"], key=lambda p: (p.count("/"), p)):
            parent = "/"
            for part in [p for p in path.split("/") if p]:
                here = parent.rstrip("/") + "/" + part
                if here not in ids:
                    try:
                        ids[here] = client.create_resource(
                            restApiId=api_id, parentId=ids[parent], pathPart=part
                        )["id"]
                        created.append(here)
                    except Exception as error:  # moto's refusal, reported as data
                        errors.append(f"{here}: {error}")
                        break
                parent = here
            if path not in ids:
                continue
            for method, operation in body["paths"][path].items():
                security = [name for item in operation.get("security", []) for name in item]
                cognito = [name for name in security if name in authorizers]
                arguments = {"authorizationType": "NONE"}
                if cognito:
                    arguments = {"authorizationType": "COGNITO_USER_POOLS", "authorizerId": authorizers[cognito[0]]}
                try:
                    client.put_method(
                        restApiId=api_id, resourceId=ids[path], httpMethod=method.upper(), **arguments
                    )
                    methods.append(f"{method.upper()} {path} {arguments['authorizationType']}")
                except Exception as error:
                    errors.append(f"{method.upper()} {path}: {error}")
        report[logical_id] = {"created": created, "methods": methods, "errors": errors}
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("template")
    parser.add_argument("--moto-endpoint")
    arguments = parser.parse_args()
    template = transform(arguments.template)
    out = {"template": template}
    if arguments.moto_endpoint:
        out["moto"] = build_in_moto(arguments.moto_endpoint, template)
    json.dump(out, sys.stdout, indent=1, default=str)
    print()


if __name__ == "__main__":
    main()
