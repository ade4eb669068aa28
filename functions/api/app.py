"""ApiFunction: HTTP API (payload v2) -> the instances API (Powertools event handler)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from bcpoller.adapters import aws
from bcpoller.adapters.auth_table import AuthTable
from bcpoller.adapters.cursor_stats import CursorStats
from bcpoller.adapters.instance_table import InstanceTable
from bcpoller.adapters.kms_crypto import KmsCrypto
from bcpoller.adapters.poll_trigger import PollTrigger
from bcpoller.adapters.schedules import Schedules
from bcpoller.api.auth import Authenticator
from bcpoller.api.body import catalog_entries, parse_facts
from bcpoller.api.routes import ApiContext, build_app
from bcpoller.api.service import InstanceService
from bcpoller.settings import get_settings
from bcpoller.tracing import traced

logger = Logger()
metrics = Metrics()
WEB_DIR = Path(__file__).resolve().parent / "web"


@cache
def context() -> ApiContext:
    """Wire the adapters once per warm container (tests reset it with context.cache_clear)."""
    from bcpoller.adapters.app_table import AppTable
    from bcpoller.adapters.delivery_runtime import DeliveryRuntime
    from bcpoller.adapters.store_gateway import StoreGateway
    from bcpoller.adapters.store_hooks import StoreHooks
    from bcpoller.adapters.wake_table import WakeTable
    from bcpoller.api.app_routes import public_base_url
    from bcpoller.api.apps import AppService
    from bcpoller.wakeup.coalesce import WakeService
    from bcpoller.wakeup.manager import Wakeup

    settings = get_settings()
    # The event log and replay are the delivery function's: the same wiring, no drift.
    delivery = DeliveryRuntime(settings)
    table = aws.table(settings.table_name)
    instances = InstanceTable(table)
    crypto = KmsCrypto(aws.client("kms"), settings.kms_key_id)
    trigger = PollTrigger(
        None if settings.poll_now_url else aws.client("lambda"),
        function_arn=settings.poll_function_arn,
        poll_now_url=settings.poll_now_url,
    )
    wake_table = WakeTable(table)
    wakeup = Wakeup(
        records=wake_table,
        open_hooks=lambda configuration: StoreHooks(
            configuration, api_base_url=settings.bc_api_base_url, allow_loopback=settings.local_mode
        ),
    )
    service = InstanceService(
        instances=instances,
        crypto=crypto,
        schedules=Schedules(
            aws.client("scheduler"),
            group_name=settings.schedule_group_name,
            target_arn=settings.poll_function_arn,
            role_arn=settings.scheduler_role_arn,
        ),
        trigger=trigger,
        store=StoreGateway(
            api_base_url=settings.bc_api_base_url,
            login_base_url=settings.bc_login_base_url,
            allow_loopback=settings.local_mode,
        ),
        events=delivery.event_log,
        replayer=delivery.replayer(),
        cursors=CursorStats(table),
        parse=parse_facts,
        default_refresh_minutes=settings.default_refresh_minutes,
        allow_loopback=settings.local_mode,
        wakeup=wakeup,
        # The hooks' destination: this API as the caller reached it (custom domain, stage).
        wake_base_url=lambda: public_base_url(app),
    )
    apps = AppService(
        apps=AppTable(table),
        instances=service,
        crypto=crypto,
        catalog=catalog_entries,
        allow_loopback=settings.local_mode,
    )
    return ApiContext(
        service=service,
        auth=Authenticator(AuthTable(table), instances),
        catalog=catalog_entries,
        apps=apps,
        wake=WakeService(state=wake_table, trigger=trigger.wake),
    )


app = build_app(context, web_dir=WEB_DIR, logger=logger, catalog_source=catalog_entries)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@traced
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response = app.resolve(event, context)
    # 4xx and 5xx rates per class: the API's health at a glance (no per-route cardinality).
    metrics.add_metric(
        name=f"Api{int(response.get('statusCode', 500)) // 100}xx", unit=MetricUnit.Count, value=1
    )
    return response
