"""The instance body (POST /instances) and its configuration, as Open Connectors has it.

Keys are the dotted strings of Open Connectors' bodies (``store.url``,
``event.poller.configuration`` ...); both seed bodies parse unchanged, unknown keys are
kept, and every problem is reported at once with the dotted path of its field
(``configuration.event.poller.configuration.orders.url: unknown macro ${dat:...}``).
Credentials are exposed (as SecretStr, so they never reach a log by accident) but not
required here: whether they are complete is the connector's question.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, tzinfo
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from bcpoller.config.catalog import JAVA_PATTERNS, CatalogEntry, get_entry
from bcpoller.config.errors import ConfigError, FieldProblem, join_path
from bcpoller.config.hub import NativeRequest, lower_bound_clause, parse_hub_url, to_native_request
from bcpoller.config.javadate import compile_pattern, parse_record_date, resolve_zone
from bcpoller.config.macros import MACRO_MARK, check_macros, mark_macros, render_url
from bcpoller.delivery.policy import parse_timeout_seconds

ELEMENT_KEY = "bigcommerce"
MAX_REFRESH_MINUTES = 1440
# Overlap behind the cursor: enough for any store's commit lag; more only re-reads (a
# pollDelay of 1e9 would read the whole history on every poll).
MAX_POLL_DELAY_S = 3600
MAX_CREATED_TOLERANCE_S = 3600.0
# The catalog has a handful of resources; a body naming hundreds is a mistake (or an attack).
MAX_POLLERS = 50
# Any instant renders every macro; this one has two-digit fields and a fraction, so a
# pattern that cannot be read back fails validation rather than the first poll.
_SAMPLE_INSTANT = datetime(2024, 11, 23, 14, 5, 9, 123000, tzinfo=UTC)
_DATE_KEYS = {
    "updated_field": ("updatedDateField", "updatedAtField"),
    "updated_format": ("updatedDateFormat", "updatedAtFormat"),
    "updated_timezone": ("updatedDateTimezone", "updatedAtTimezone"),
    "created_field": ("createdDateField", "createdAtField"),
    "created_format": ("createdDateFormat", "createdAtFormat"),
    "created_timezone": ("createdDateTimezone", "createdAtTimezone"),
}
_DOTTED_PATH = re.compile(r"[^.\s]+(?:\.[^.\s]+)*")


def _choices(name: str) -> AliasChoices:
    return AliasChoices(*_DATE_KEYS[name])


def _empty_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def read_path(record: dict[str, Any], dotted: str) -> Any:
    """``record["_info"]["lastUpdated"]`` for ``_info.lastUpdated``; ValueError names the path
    (a ValueError, like an unreadable date: the poller reports both the same way)."""
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise ValueError(f"the record has no {dotted!r}")
        value = value[part]
    return value


class DatesConfiguration(BaseModel):
    """``datesConfiguration``: both spellings (``updatedDateField`` / ``updatedAtField``...)."""

    model_config = ConfigDict(extra="allow")

    updated_field: str | None = Field(None, validation_alias=_choices("updated_field"))
    updated_format: str | None = Field(None, validation_alias=_choices("updated_format"))
    updated_timezone: str | None = Field(None, validation_alias=_choices("updated_timezone"))
    created_field: str | None = Field(None, validation_alias=_choices("created_field"))
    created_format: str | None = Field(None, validation_alias=_choices("created_format"))
    created_timezone: str | None = Field(None, validation_alias=_choices("created_timezone"))

    @field_validator("*", mode="before")
    @classmethod
    def _blank(cls, value: Any) -> Any:
        return _empty_to_none(value)

    @field_validator("updated_field", "created_field")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None and not _DOTTED_PATH.fullmatch(value):
            raise ValueError(f"{value!r} is not a dotted field path (date_modified, _info.lastUpdated)")
        return value

    @field_validator("updated_format", "created_format")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is not None:
            compile_pattern(value)
        return value

    @field_validator("updated_timezone", "created_timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            resolve_zone(value)
        return value

    @classmethod
    def conflicts(cls, raw: Any) -> list[FieldProblem]:
        """Both spellings given with different values: which one wins would be a guess."""
        if not isinstance(raw, dict):
            return []
        return [
            FieldProblem(field=a, problem=f"{a} and {b} disagree; give one of them")
            for a, b in _DATE_KEYS.values()
            if a in raw and b in raw and raw[a] != raw[b]
        ]

    @property
    def updated_tz(self) -> tzinfo:
        return resolve_zone(self.updated_timezone)

    @property
    def created_tz(self) -> tzinfo:
        return resolve_zone(self.created_timezone)


# The deletion sweep (our extension, ``"deletions": {"everyMinutes": 60}``): at most one
# sweep per this many minutes. A sweep lists every id of the resource (a page per 250),
# so more often than every 5 minutes would spend the store's shared quota for nothing;
# a week is the longest a deletion may wait.
MIN_SWEEP_MINUTES = 5
MAX_SWEEP_MINUTES = 10_080


class DeletionsOption(BaseModel):
    """``deletions`` of one poller: opt-in DELETED events from a periodic id sweep."""

    model_config = ConfigDict(extra="forbid")

    every_minutes: int = Field(alias="everyMinutes")

    @field_validator("every_minutes", mode="before")
    @classmethod
    def _minutes(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be a whole number of minutes, got {value!r}")
        if not MIN_SWEEP_MINUTES <= value <= MAX_SWEEP_MINUTES:
            raise ValueError(
                f"must be between {MIN_SWEEP_MINUTES} and {MAX_SWEEP_MINUTES} minutes, got {value}"
            )
        return value


class ResourcePoller(BaseModel):
    """One resource's poller: its hub URL, id field, dates and timing."""

    model_config = ConfigDict(extra="allow")

    url: str
    id_field: str = Field("id", alias="idField")
    dates: DatesConfiguration = Field(
        default_factory=lambda: DatesConfiguration.model_validate({}), alias="datesConfiguration"
    )
    page_size: int | None = Field(None, alias="pageSize", ge=1, le=250)
    # seconds of overlap behind the cursor
    poll_delay: int = Field(5, alias="pollDelay", ge=1, le=MAX_POLL_DELAY_S)
    created_check_tolerance: float | None = Field(
        None, alias="createdCheckTolerance", ge=0, le=MAX_CREATED_TOLERANCE_S, allow_inf_nan=False
    )
    filter_by_updated_date: bool = Field(True, alias="filterByUpdatedDate", strict=True)
    # Our extension; absent = no sweep, exactly as Open Connectors bodies behave.
    deletions: DeletionsOption | None = None

    @field_validator("deletions", mode="before")
    @classmethod
    def _deletions(cls, value: Any) -> Any:
        value = _empty_to_none(value)
        if value is None:
            return None
        value = _json_object(value, "deletions") if isinstance(value, str) else value
        if not isinstance(value, dict):
            raise ValueError(f'must be an object such as {{"everyMinutes": 60}}, got {type(value).__name__}')
        return value

    @field_validator("page_size", "poll_delay", mode="before")
    @classmethod
    def _whole_number(cls, value: Any) -> Any:
        value = _empty_to_none(value)
        if isinstance(value, bool):
            # pydantic would take true as 1: a page of one record (151 requests a poll).
            raise ValueError("must be a whole number, not a boolean")
        if isinstance(value, str) and not (value.strip().isascii() and value.strip().isdigit()):
            raise ValueError(f"must be a whole number, got {value!r}")
        return value

    @field_validator("dates", mode="before")
    @classmethod
    def _dates(cls, value: Any) -> Any:
        value = _empty_to_none(value)
        if value is None:
            return {}
        return _json_object(value, "datesConfiguration")

    @field_validator("created_check_tolerance", mode="before")
    @classmethod
    def _optional_number(cls, value: Any) -> Any:
        value = _empty_to_none(value)
        if isinstance(value, bool):
            raise ValueError("must be a number of seconds, not a boolean")
        return value

    @field_validator("id_field")
    @classmethod
    def _id_path(cls, value: str) -> str:
        if not _DOTTED_PATH.fullmatch(value):
            raise ValueError(f"{value!r} is not a dotted field path such as id or data.id")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        problems = check_macros(value)
        if problems:
            raise ValueError("; ".join(problems))
        try:
            to_native_request(render_url(value, _SAMPLE_INSTANT))
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value

    @property
    def entry(self) -> CatalogEntry:
        # The path alone names the resource; the where-clause holds unrendered macros.
        query = parse_hub_url(self.url.partition("?")[0])
        return get_entry(query.resource, query.hub)

    def native(self, lower_bound: datetime, *, legacy: bool = False) -> NativeRequest:
        """The BigCommerce request for a poll whose lower bound is ``lower_bound``.

        When the where-clause's bound is one macro, the request uses the exact instant:
        a rendered value can lose its zone (``${dateTimeZone:America/Denver:yyyy-MM-dd
        HH:mm}`` read back as UTC would start seven hours late and miss changes)."""
        request = to_native_request(render_url(self.url, lower_bound), legacy=legacy)
        clause = lower_bound_clause(mark_macros(self.url), request.entry)
        if clause is not None and clause.value == MACRO_MARK:
            return request.at(lower_bound)
        return request

    @property
    def effective_page_size(self) -> int:
        limit = self.entry.max_page_size
        return min(self.page_size or limit, limit)

    def object_id(self, record: dict[str, Any]) -> str:
        value = read_path(record, self.id_field)
        if value is None or value == "" or isinstance(value, dict | list):
            raise ValueError(f"the record's {self.id_field!r} is not an id: {type(value).__name__}")
        return str(value)

    def updated_at(self, record: dict[str, Any], *, legacy: bool = False) -> datetime | None:
        """The record's updated time (None when neither the config nor the catalog names one)."""
        return self._date(record, "updated", legacy)

    def created_at(self, record: dict[str, Any], *, legacy: bool = False) -> datetime | None:
        return self._date(record, "created", legacy)

    def _date(self, record: dict[str, Any], which: str, legacy: bool) -> datetime | None:
        entry = self.entry
        field = getattr(self.dates, f"{which}_field") or getattr(entry, f"{which}_field")
        if field is None:
            return None
        native = entry.record_format(legacy=legacy)
        pattern = getattr(self.dates, f"{which}_format") or (JAVA_PATTERNS[native] if native else None)
        zone = getattr(self.dates, f"{which}_tz")
        return parse_record_date(read_path(record, field), pattern, zone)


Pollers = dict[str, ResourcePoller]


class InstanceConfiguration(BaseModel):
    """The ``configuration`` object: dotted keys, unknown ones kept in ``extra``."""

    model_config = ConfigDict(extra="allow")

    store_url: str | None = Field(None, alias="store.url")
    username: str | None = None
    password: SecretStr | None = None
    store_hash: str | None = Field(None, alias="store.hash")
    access_token: SecretStr | None = Field(None, alias="access.token")
    oauth_api_key: str | None = Field(None, alias="oauth.api.key")
    oauth_api_secret: SecretStr | None = Field(None, alias="oauth.api.secret")
    oauth_callback_url: str | None = Field(None, alias="oauth.callback.url")
    # Set by the OAuth install flow (instances.SECRET_CONFIG_KEYS), never by hand.
    oauth_access_token: SecretStr | None = Field(None, alias="oauth.access.token")
    oauth_code: SecretStr | None = Field(None, alias="oauth.code")
    events_enabled: bool = Field(False, alias="event.notification.enabled")
    callback_url: str | None = Field(None, alias="event.notification.callback.url")
    signature_key: SecretStr | None = Field(None, alias="event.notification.signature.key")
    # Our extension: how long one POST may take before it counts as timed out (and retried).
    delivery_timeout: int | None = Field(None, alias="event.notification.timeout_seconds")
    refresh_interval: int | None = Field(None, alias="event.poller.refresh_interval")
    event_poller_configuration: Pollers | None = Field(None, alias="event.poller.configuration")
    # The name the Open Connectors parameter table uses for the same object.
    resource_poller_configuration: Pollers | None = Field(None, alias="resourcePoller.configuration")
    backfill_since: datetime | None = Field(None, alias="event.poller.backfill_since")
    # Our extension (issue 18): BigCommerce webhooks wake the poller; polling stays the truth.
    wakeup: bool = Field(False, alias="event.poller.wakeup")

    @field_validator(
        "store_url", "username", "password", "store_hash", "access_token", "oauth_api_key",
        "oauth_api_secret", "oauth_callback_url", "oauth_access_token", "oauth_code", "callback_url",
        "signature_key", mode="before",
    )  # fmt: skip
    @classmethod
    def _blank(cls, value: Any) -> Any:
        return _empty_to_none(value)

    @field_validator("events_enabled", "wakeup", mode="before")
    @classmethod
    def _enabled(cls, value: Any) -> Any:
        value = _empty_to_none(value)
        if value is None:
            return False
        # Open Connectors bodies send true/false or "true"/"false"; pydantic alone would also
        # take "yes", "on", 1 and "1", which hide a typo.
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        if not isinstance(value, bool):
            raise ValueError(f"must be true or false, got {value!r}")
        return value

    @field_validator("refresh_interval", mode="before")
    @classmethod
    def _refresh(cls, value: Any) -> int | None:
        value = _empty_to_none(value)
        if value is None:
            return None
        if isinstance(value, bool):
            raise ValueError("must be a number of minutes, not a boolean")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        # isascii: str.isdigit and int() also take fullwidth and other scripts' digits.
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
            value = int(value.strip())
        if not isinstance(value, int):
            raise ValueError(f"must be a whole number of minutes (or empty for the default), got {value!r}")
        if not 1 <= value <= MAX_REFRESH_MINUTES:
            raise ValueError(f"must be between 1 and {MAX_REFRESH_MINUTES} minutes, got {value}")
        return value

    @field_validator("delivery_timeout", mode="before")
    @classmethod
    def _delivery_timeout(cls, value: Any) -> int | None:
        return parse_timeout_seconds(value)

    @field_validator("event_poller_configuration", "resource_poller_configuration", mode="before")
    @classmethod
    def _pollers(cls, value: Any) -> Any:
        value = _empty_to_none(value)
        if value is None:
            return None
        value = _json_object(value, "the poller configuration")
        if len(value) > MAX_POLLERS:
            raise ValueError(f"names {len(value)} resources; at most {MAX_POLLERS} are allowed")
        for name in value:
            if not str(name).strip():
                raise ValueError("a resource name is empty")
        return value

    @field_validator("backfill_since", mode="before")
    @classmethod
    def _backfill(cls, value: Any) -> Any:
        value = _empty_to_none(value)
        if value is None or isinstance(value, datetime):
            return value
        if not isinstance(value, str):
            raise ValueError("must be an ISO 8601 date-time string such as 2024-01-31T00:00:00Z")
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 date-time such as 2024-01-31T00:00:00Z") from None
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        if moment > datetime.now(UTC):
            # A future start would silently emit nothing until that day.
            raise ValueError(f"{value!r} is in the future; backfill starts at a past moment")
        return moment

    @property
    def pollers(self) -> Pollers:
        """The resources to poll, wherever the body put them."""
        return dict(self.event_poller_configuration or self.resource_poller_configuration or {})

    @property
    def pollers_key(self) -> str:
        if self.event_poller_configuration is None and self.resource_poller_configuration is not None:
            return "resourcePoller.configuration"
        return "event.poller.configuration"

    @property
    def uses_legacy_api(self) -> bool:
        """Basic auth against store-HASH.mybigcommerce.com/api/v2 (the v2 API only)."""
        return bool(self.store_url and self.username) and not (self.store_hash and self.access_token)

    @property
    def extra(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Element(BaseModel):
    model_config = ConfigDict(extra="allow")
    key: str

    @field_validator("key")
    @classmethod
    def _bigcommerce(cls, value: str) -> str:
        if value != ELEMENT_KEY:
            raise ValueError(f"must be {ELEMENT_KEY!r}: this service runs the BigCommerce connector only")
        return value


class InstanceBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    element: Element
    name: str = ""
    tags: list[str] = Field(default_factory=list)
    configuration: InstanceConfiguration

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> Any:
        return [] if value is None else value


def _json_object(value: Any, what: str) -> Any:
    """An object, or that object as a JSON string (Open Connectors accepts both)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{what} is not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be an object keyed by name, got {type(value).__name__}")
    return value


def _problems(exc: ValidationError, prefix: str) -> list[FieldProblem]:
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        field = join_path(prefix, *(str(part) for part in error["loc"]))
        message = error["msg"].removeprefix("Value error, ")
        problems.append(FieldProblem(field=field, problem=message))
    return problems


def _cross_checks(config: InstanceConfiguration, raw: dict[str, Any], prefix: str) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    both = raw.get("event.poller.configuration"), raw.get("resourcePoller.configuration")
    if all(_empty_to_none(v) is not None for v in both) and (
        config.event_poller_configuration != config.resource_poller_configuration
    ):
        problems.append(
            FieldProblem(
                field=join_path(prefix, "resourcePoller.configuration"),
                problem="give the pollers once: event.poller.configuration or resourcePoller.configuration",
            )
        )
    pollers_raw = raw.get(config.pollers_key)
    if isinstance(pollers_raw, str):
        pollers_raw = json.loads(pollers_raw)
    for name, poller in config.pollers.items():
        path = join_path(prefix, config.pollers_key, name)
        dates_raw = (pollers_raw or {}).get(name, {}).get("datesConfiguration")
        if isinstance(dates_raw, str) and dates_raw.strip():
            dates_raw = json.loads(dates_raw)
        for conflict in DatesConfiguration.conflicts(dates_raw):
            field = join_path(path, "datesConfiguration", conflict.field)
            problems.append(FieldProblem(field=field, problem=conflict.problem))
        if poller.deletions is not None:
            problem = _deletions_problem(poller.entry, config.uses_legacy_api)
            if problem is None and poller.id_field != poller.entry.id_field:
                problem = (
                    f"a sweep lists {poller.entry.name} by {poller.entry.id_field!r}, "
                    f"so idField must be {poller.entry.id_field!r}, not {poller.id_field!r}"
                )
            if problem:
                problems.append(FieldProblem(field=join_path(path, "deletions"), problem=problem))
        if config.uses_legacy_api and poller.entry.legacy_v2_path is None:
            problems.append(
                FieldProblem(
                    field=join_path(path, "url"),
                    problem=f"{poller.entry.name} is not served by the legacy v2 API that store.url, "
                    "username and password reach; use store.hash and access.token",
                )
            )
    return problems


def _deletions_problem(entry: CatalogEntry, legacy: bool) -> str | None:
    """Why a deletion sweep cannot run on this resource (None: it can)."""
    if not entry.has_date_filter:
        return (
            f"{entry.name} is read whole on every poll and its deletions are already reported; "
            "remove deletions"
        )
    if entry.keyset_for(legacy=legacy) is None:
        if legacy and entry.keyset is not None:
            return (
                f"a sweep of {entry.name} needs id paging, which the legacy v2 API does not offer; "
                "use store.hash and access.token"
            )
        return f"a sweep of {entry.name} needs id paging, which its endpoint does not offer"
    return None


def parse_configuration(cfg: Any, prefix: str = "configuration") -> InstanceConfiguration:
    """A stored or submitted configuration; ConfigError lists every problem."""
    if not isinstance(cfg, dict):
        raise ConfigError("must be an object of configuration keys", field=prefix)
    try:
        config = InstanceConfiguration.model_validate(cfg)
    except ValidationError as exc:
        raise ConfigError(_problems(exc, prefix)) from None
    problems = _cross_checks(config, cfg, prefix)
    if problems:
        raise ConfigError(problems)
    return config


def parse_instance_body(data: Any) -> InstanceBody:
    """A POST /instances body; ConfigError lists every problem with its field path."""
    if not isinstance(data, dict):
        raise ConfigError("the body must be a JSON object with element, name, tags and configuration")
    try:
        body = InstanceBody.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_problems(exc, "")) from None
    problems = _cross_checks(body.configuration, data["configuration"], "configuration")
    if problems:
        raise ConfigError(problems)
    return body
