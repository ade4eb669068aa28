"""The single DynamoDB table's key layout: every item's pk/sk is built here.

| item | pk | sk | gsi1pk / gsi1sk |
| --- | --- | --- | --- |
| instance | INST#{id} | META | ORG#{orgId} / INST#{createdDate}#{id} |
| cursor of a resource | INST#{id} | META#CURSOR#{resource} | |
| last poll (status, work lease) | INST#{id} | META#POLL | |
| event (status, attempts; the delivery claim) | EVT#{id} | EVENT#{eventId} | |
| event log entry (time order, body) | EVT#{id} | LOG#{createdAt}#{eventId} | |
| delivered/failed counts of one day, by hour | EVT#{id} | STATS#{yyyy-mm-dd} | |
| dead-lettered events (a counter) | EVT#{id} | DLQ | |
| oversize record body | INST#{id} | BLOB#{eventId} | |
| organization | ORG#{orgId} | ORG | |
| secret lookup | SECRET#{sha256 hex} | SECRET | |

Items that expire carry ``ttl`` (epoch seconds).

Everything a poll reads sorts under ``META`` (the instance, its cursors, its last poll),
so one Query (``begins_with(sk, "META")``) fetches it all in one read request. The event
log lives in a partition of its own (``EVT#``): a busy instance's event writes never share
a partition with its polls' reads and status's, and a local DynamoDB (moto), whose Query
walks a whole partition, stays as fast after a million events as after none.
"""

from __future__ import annotations

PK = "pk"
SK = "sk"
GSI1 = "gsi1"
GSI1_PK = "gsi1pk"
GSI1_SK = "gsi1sk"
TTL = "ttl"

META = "META"


def instance_pk(instance_id: str) -> str:
    return f"INST#{instance_id}"


def events_pk(instance_id: str) -> str:
    return f"EVT#{instance_id}"


CURSOR_PREFIX = "META#CURSOR#"
# Where cursors lived before the one-read poll; PollTable.load moves them once.
LEGACY_CURSOR_PREFIX = "CURSOR#"
POLL_STATUS = "META#POLL"


def cursor_sk(resource: str) -> str:
    return f"{CURSOR_PREFIX}{resource}"


EVENT_PREFIX = "EVENT#"
LOG_PREFIX = "LOG#"
STATS_PREFIX = "STATS#"
BLOB_PREFIX = "BLOB#"


def event_sk(event_id: str) -> str:
    return f"{EVENT_PREFIX}{event_id}"


def log_sk(created_at: str, event_id: str) -> str:
    """``created_at`` is the fixed-width log time, so entries sort by creation in the table."""
    return f"{LOG_PREFIX}{created_at}#{event_id}"


def stats_sk(day: str) -> str:
    """``day`` is ``yyyy-mm-dd`` (UTC)."""
    return f"{STATS_PREFIX}{day}"


# The instance's dead-lettered events: ``count``, ADDed when delivery gives up on an event
# and sends it to the DLQ, lowered by a redrive (delivery/replay.py).
DEAD_LETTERS_SK = "DLQ"


def blob_sk(event_id: str) -> str:
    return f"{BLOB_PREFIX}{event_id}"


def org_pk(org_id: str) -> str:
    return f"ORG#{org_id}"


def org_instances_gsi_pk(org_id: str) -> str:
    return f"ORG#{org_id}"


def secret_pk(secret_hash: str) -> str:
    return f"SECRET#{secret_hash}"


# A BigCommerce app (api/apps.py, adapters/app_table.py):
# | app | APP#{appId} | APP | orgId, clientId, secrets (KMS), callbackUrl, resources, refreshMinutes |
# | the organization's app | ORG#{orgId} | APP | appId |
# | a store's install | APP#{appId} | STORE#{storeHash} | instanceId, status, installedAt, uninstalledAt |
# | a used install code | APP#{appId} | CODE#{sha256 hex} | ttl |
# | a load session | SECRET#{sha256 hex} | SECRET | kind "session", orgId, instanceId, expiresAt, ttl |
APP_SK = "APP"
STORE_PREFIX = "STORE#"


def app_pk(app_id: str) -> str:
    return f"APP#{app_id}"


def store_install_sk(store_hash: str) -> str:
    return f"{STORE_PREFIX}{store_hash}"


def install_code_sk(code_hash: str) -> str:
    return f"CODE#{code_hash}"


# Failed events (issue 20): the event item of a failed event -- and only of a failed one --
# carries gsi1pk/gsi1sk, so "failed" lists from an index that holds nothing else. The keys
# are set by the write that records the failure and removed by the replay that requeues
# it: a delivered event never enters the index and pays nothing for it.
FAILED_EVENTS_PREFIX = "FAILED#"


def failed_events_gsi_pk(instance_id: str) -> str:
    return f"{FAILED_EVENTS_PREFIX}{instance_id}"


def failed_events_gsi_sk(created_at: str, event_id: str) -> str:
    """In log order, like the ``LOG#`` sort key, so since/until bound it the same way."""
    return f"{created_at}#{event_id}"


# The deletion sweep (poll/sweep.py): its state and the known ids, in the instance's
# partition but NOT under META, so the poll's one Query never reads (or pays for) them.
# | sweep state | INST#{id} | SWEEP#{resource} | generation, parts, startedAt, after, lastId, written |
# | known ids | INST#{id} | SWEEP#{resource}#IDS#{generation}#{part} | ids (zlib varint deltas), count |
SWEEP_PREFIX = "SWEEP#"


def sweep_sk(resource: str) -> str:
    return f"{SWEEP_PREFIX}{resource}"


def sweep_ids_prefix(resource: str, generation: int) -> str:
    return f"{SWEEP_PREFIX}{resource}#IDS#{generation:08d}#"


def sweep_ids_sk(resource: str, generation: int, part: int) -> str:
    return f"{sweep_ids_prefix(resource, generation)}{part:06d}"
