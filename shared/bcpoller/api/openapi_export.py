"""``python -m bcpoller.api.openapi_export > docs/openapi.json``: the API's OpenAPI document,
generated from the routes and models (no AWS needed)."""

from __future__ import annotations

import sys

from aws_lambda_powertools import Logger

from bcpoller.api.routes import ApiContext, build_app, openapi_document


def generate() -> str:
    def no_context() -> ApiContext:
        raise RuntimeError("the OpenAPI export serves no requests")

    return openapi_document(build_app(no_context, web_dir=None, logger=Logger(service="openapi-export")))


if __name__ == "__main__":
    sys.stdout.write(generate())
