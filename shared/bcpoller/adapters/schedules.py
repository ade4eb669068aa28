"""One EventBridge Scheduler schedule per instance: ``inst-{id}``, rate(N minutes),
target PollFunction with input ``{"instanceId": ...}``."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError


def schedule_name(instance_id: str) -> str:
    return f"inst-{instance_id}"


def rate_expression(minutes: int) -> str:
    return "rate(1 minute)" if minutes == 1 else f"rate({minutes} minutes)"


class Schedules:
    def __init__(self, scheduler_client: Any, *, group_name: str, target_arn: str, role_arn: str) -> None:
        self._client = scheduler_client
        self._group = group_name
        self._target_arn = target_arn
        self._role_arn = role_arn

    def _definition(self, instance_id: str, minutes: int) -> dict[str, Any]:
        return {
            "Name": schedule_name(instance_id),
            "GroupName": self._group,
            "ScheduleExpression": rate_expression(minutes),
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": "ENABLED",
            "Target": {
                "Arn": self._target_arn,
                "RoleArn": self._role_arn,
                "Input": json.dumps({"instanceId": instance_id}),
                # A tick that cannot reach PollFunction is worth little after a minute: the
                # next tick reads from the same cursors. Scheduler's default (185 retries
                # over 24 h) would pile stale polls onto a throttled function instead. No
                # dead-letter queue: a lost tick loses nothing but a minute of latency.
                "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 60},
            },
            "Description": f"poll BigCommerce instance {instance_id}",
        }

    def put(self, instance_id: str, minutes: int) -> None:
        """Create the schedule, or update it in place when it exists (idempotent)."""
        definition = self._definition(instance_id, minutes)
        try:
            self._client.create_schedule(**definition)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConflictException":
                raise
            self._client.update_schedule(**definition)

    def delete(self, instance_id: str) -> bool:
        """Delete the schedule; False when there was none."""
        try:
            self._client.delete_schedule(Name=schedule_name(instance_id), GroupName=self._group)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return False
            raise
        return True

    def get(self, instance_id: str) -> dict[str, Any] | None:
        try:
            return dict(self._client.get_schedule(Name=schedule_name(instance_id), GroupName=self._group))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return None
            raise
