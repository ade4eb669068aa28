"""Runtime configuration, validated once from the environment.

This is the only module that reads ``os.environ`` (Powertools and boto3 read their own
variables, e.g. ``POWERTOOLS_SERVICE_NAME`` and ``AWS_ENDPOINT_URL``).
"""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, Field, ValidationError, model_validator


class Settings(BaseModel):
    """Environment of every function; template.yaml sets these, the local stack too."""

    table_name: str = Field(alias="TABLE_NAME")
    events_queue_url: str = Field("", alias="EVENTS_QUEUE_URL")
    dlq_url: str = Field("", alias="DLQ_URL")
    kms_key_id: str = Field("", alias="KMS_KEY_ID")
    schedule_group_name: str = Field("", alias="SCHEDULE_GROUP_NAME")
    scheduler_role_arn: str = Field("", alias="SCHEDULER_ROLE_ARN")
    poll_function_arn: str = Field("", alias="POLL_FUNCTION_ARN")
    default_refresh_minutes: int = Field(5, alias="DEFAULT_REFRESH_MINUTES", ge=1, le=1440)
    event_retention_days: int = Field(7, alias="EVENT_RETENTION_DAYS", ge=1, le=365)
    # Local mode allows http:// and loopback for store and callback URLs (never deployed).
    local_mode: bool = Field(False, alias="LOCAL_MODE")
    bc_api_base_url: str = Field("https://api.bigcommerce.com", alias="BC_API_BASE_URL")
    bc_login_base_url: str = Field("https://login.bigcommerce.com", alias="BC_LOGIN_BASE_URL")
    # Real seconds in one "minute" of schedules and retry delays (the local stack's --minute).
    seconds_per_minute: float = Field(60.0, alias="SECONDS_PER_MINUTE", gt=0)
    # A quiet poll whose outcome is unchanged rewrites its status report only this often
    # (the freshness status promises; every write is one WRU).
    status_heartbeat_minutes: int = Field(15, alias="STATUS_HEARTBEAT_MINUTES", ge=1, le=1440)
    # Local stack only: "poll now" posts here instead of invoking PollFunction.
    poll_now_url: str = Field("", alias="POLL_NOW_URL")
    # Callback POST timeout (DESIGN: 2xx within 15 s); lower only to make tests quick.
    delivery_timeout_seconds: float = Field(15.0, alias="DELIVERY_TIMEOUT_SECONDS", gt=0, le=15)
    # Local mode only: a PEM CA file the callback sender trusts besides the public CAs
    # (the benchmark's HTTPS receiver uses a self-signed certificate made at run time).
    callback_ca_file: str = Field("", alias="CALLBACK_CA_FILE")

    @model_validator(mode="after")
    def _ca_file_only_locally(self) -> Settings:
        if self.callback_ca_file and not self.local_mode:
            raise ValueError("CALLBACK_CA_FILE: only allowed with LOCAL_MODE=true")
        return self

    model_config = {"populate_by_name": True, "frozen": True}


class SettingsError(RuntimeError):
    """The environment is missing or has a bad variable: names each one."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings.model_validate(dict(os.environ))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"invalid environment: {problems}") from None


def reset_settings() -> None:
    """Forget the cached settings (tests and the local stack change the environment)."""
    get_settings.cache_clear()


def tracing_enabled() -> bool:
    """Whether Powertools' Tracer would trace here: the same rule as its own (off when
    POWERTOOLS_TRACE_DISABLED is true, outside Lambda, and under `sam local`), read
    without importing it, since merely creating a Tracer loads the X-Ray SDK."""
    env = os.environ
    if env.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in ("1", "true", "yes", "on", "y", "t"):
        return False
    in_lambda = bool(env.get("LAMBDA_TASK_ROOT"))
    return in_lambda and not env.get("AWS_SAM_LOCAL") and not env.get("AWS_CHALICE_CLI_MODE")
