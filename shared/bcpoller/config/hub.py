"""Hub URLs (``/hubs/<hub>/<resource>?where=<clause>``) and their BigCommerce requests.

A poller's URL, after its macros are rendered, names a hub resource and a where-clause.
The clause's lower bound (``min_date_modified='...'``, ``date_modified>='...'``) becomes
the endpoint's own filter parameter with the date re-written in the endpoint's format, so
a seed URL written for v2 orders (RFC 2822) also works for v3 products (ISO 8601).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal
from urllib.parse import unquote

from bcpoller.config.catalog import CatalogEntry, DateFormat, get_entry
from bcpoller.config.errors import ConfigError, FieldProblem
from bcpoller.config.javadate import format_java, parse_any

Op = Literal["=", ">", ">="]

_HUB_PATH = re.compile(r"/hubs/([A-Za-z0-9_-]+)/([A-Za-z0-9_-]+)/?")
_CLAUSE = re.compile(
    r"""\s*(?P<field>[A-Za-z_][A-Za-z0-9_.:]*)\s*
        (?P<op>>=|<=|!=|<>|=|>|<|\s(?:like|in)\s)\s*
        (?P<value>'(?:[^']|'')*'|[^\s']+)\s*""",
    re.VERBOSE | re.IGNORECASE,
)
_AND = re.compile(r"and\s+", re.IGNORECASE)
# The native filters' granularity is one second; the instant is floored to it.
_NATIVE_PATTERNS: dict[DateFormat, str] = {
    "rfc2822": "EEE, dd MMM yyyy HH:mm:ss Z",
    "iso8601": "yyyy-MM-dd'T'HH:mm:ss'Z'",
}


@dataclass(frozen=True)
class WhereClause:
    field: str
    op: Op
    value: str


@dataclass(frozen=True)
class HubQuery:
    hub: str
    resource: str
    clauses: tuple[WhereClause, ...] = ()


@dataclass(frozen=True)
class NativeRequest:
    entry: CatalogEntry
    path: str
    params: dict[str, str]  # filters and sort, never page/limit (the connector pages)
    lower_bound: datetime | None
    legacy: bool = False

    @property
    def record_date_format(self) -> DateFormat | None:
        return self.entry.record_format(legacy=self.legacy)

    def at(self, lower_bound: datetime) -> NativeRequest:
        """The same request with its lower bound set to exactly ``lower_bound``."""
        param, fmt = self.entry.native_filter(legacy=self.legacy)
        if param is None or fmt is None:
            return self
        params = {**self.params, param: format_native(lower_bound, fmt)}
        return replace(self, params=params, lower_bound=lower_bound)

    def page_params(self, page: int, limit: int | None = None) -> dict[str, str]:
        """The params of one page (``limit`` defaults to, and is capped at, the maximum)."""
        size = min(limit or self.entry.max_page_size, self.entry.max_page_size)
        return {**self.params, "page": str(page), "limit": str(size)}


def format_native(moment: datetime, fmt: DateFormat) -> str:
    """An instant in a native filter format, in UTC, floored to the second."""
    return format_java(moment.replace(microsecond=0), _NATIVE_PATTERNS[fmt])


def parse_hub_url(url: str) -> HubQuery:
    if not isinstance(url, str) or not url.strip():
        raise ConfigError("the url is empty: give a hub path such as /hubs/ecommerce/orders")
    path, _, query = url.strip().partition("?")
    match = _HUB_PATH.fullmatch(path)
    if match is None:
        raise ConfigError(
            f"{path!r} is not a hub path: use /hubs/<hub>/<resource>[?where=...], e.g. /hubs/ecommerce/orders"
        )
    clauses: tuple[WhereClause, ...] = ()
    for part in _split_outside_quotes(query, "&") if query else []:
        if not part:
            continue
        name, sep, value = part.partition("=")
        if unquote(name).strip() != "where" or not sep:
            shown = unquote(name)
            raise ConfigError(f"unsupported query parameter {shown!r}: only where=<clause> is understood")
        if clauses:
            raise ConfigError("more than one where parameter: join the clauses with 'and'")
        # unquote, not unquote_plus: an RFC 2822 offset's '+' is meant literally.
        clauses = parse_where(unquote(value))
    return HubQuery(hub=match.group(1), resource=match.group(2), clauses=clauses)


def parse_where(text: str) -> tuple[WhereClause, ...]:
    """``f='v'``, ``f>'v'``, ``f>='v'`` joined by ``and``."""
    clauses: list[WhereClause] = []
    position, text = 0, text.strip()
    while position < len(text):
        match = _CLAUSE.match(text, position)
        if match is None:
            rest = text[position:][:40]
            raise ConfigError(f"cannot read the where clause at {rest!r}: expected field='value'")
        op = match.group("op").strip().lower()
        if op not in ("=", ">", ">="):
            raise ConfigError(
                f"where: operator {op!r} on {match.group('field')} is not supported (use =, > or >=)"
            )
        raw = match.group("value")
        value = raw[1:-1].replace("''", "'") if raw.startswith("'") else raw
        clauses.append(WhereClause(field=match.group("field"), op=op, value=value))  # type: ignore[arg-type]
        position = match.end()
        if position < len(text):
            joiner = _AND.match(text, position)
            if joiner is None:
                raise ConfigError(f"where: expected 'and' at {text[position:][:40]!r}")
            position = joiner.end()
    if not clauses:
        raise ConfigError("where: the clause is empty")
    return tuple(clauses)


def to_native_request(rendered_url: str, *, legacy: bool = False) -> NativeRequest:
    """The BigCommerce request a rendered poller URL asks for (ConfigError lists problems)."""
    query = parse_hub_url(rendered_url)
    entry = get_entry(query.resource, query.hub)
    path = entry.native_path(legacy=legacy)
    if path is None:
        raise ConfigError(
            f"{entry.name} cannot be polled with legacy credentials (store.url, username, password): "
            "the legacy API only serves v2 resources; use store.hash and access.token"
        )
    filter_param, filter_format = entry.native_filter(legacy=legacy)
    problems: list[str] = []
    params: dict[str, str] = {}
    lower_bound: datetime | None = None
    for clause in query.clauses:
        if clause.field in entry.hub_aliases or (filter_param and clause.field == filter_param):
            if not _is_lower_bound(clause):
                problems.append(
                    f"where: {clause.field}{clause.op}'...' asks for an exact time; "
                    f"use {clause.field}>='...' (or min_date_modified='...') for changes since a time"
                )
            elif lower_bound is not None:
                problems.append(f"where: more than one lower bound ({clause.field})")
            else:
                try:
                    lower_bound = parse_any(clause.value)[0]
                except ValueError as exc:
                    problems.append(f"where: {clause.field}: {exc}")
        elif clause.field in entry.passthrough_params:
            if clause.op != "=":
                problems.append(f"where: {clause.field} takes = only")
            params[clause.field] = clause.value
        elif not entry.has_date_filter and _looks_like_date_field(clause.field):
            problems.append(
                f"where: {entry.name} has no date filter in the BigCommerce API; drop the clause on "
                f"{clause.field} (every poll reads the whole resource)"
            )
        else:
            accepted = [*entry.hub_aliases, *entry.passthrough_params]
            problems.append(
                f"where: {clause.field} is not a filter of {entry.name} (accepted: {', '.join(accepted)})"
            )
    if problems:
        raise ConfigError("; ".join(problems))
    if lower_bound is not None and filter_param and filter_format:
        params[filter_param] = format_native(lower_bound, filter_format)
    if not legacy or entry.api == "v2":
        params.update(entry.sort_params)
    return NativeRequest(entry=entry, path=path, params=params, lower_bound=lower_bound, legacy=legacy)


def lower_bound_clause(url: str, entry: CatalogEntry) -> WhereClause | None:
    """The where-clause that sets ``entry``'s lower bound, if the URL has one."""
    for clause in parse_hub_url(url).clauses:
        if clause.field in entry.hub_aliases and _is_lower_bound(clause):
            return clause
    return None


def _is_lower_bound(clause: WhereClause) -> bool:
    if clause.op in (">", ">="):
        return True
    return clause.field.startswith("min_") or clause.field.endswith(":min")


def _looks_like_date_field(name: str) -> bool:
    lowered = name.lower()
    return "date" in lowered or "updated" in lowered or "modified" in lowered


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == "'":
            quoted = not quoted
        if char == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def problems_of(error: ConfigError, field: str) -> list[FieldProblem]:
    """A hub error's problems placed at ``field`` (the poller's url path)."""
    return error.prefixed(field).problems
