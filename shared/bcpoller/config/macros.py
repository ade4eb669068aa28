"""URL macros: ``${date:FMT}``, ``${gmtDate:FMT}``, ``${dateTimeZone:ZONE:FMT}``,
``${epoch}`` and ``${epoch:s|ms|us}``, each rendered for the poll's lower bound.

FMT is a Java date pattern (javadate). ``date`` and ``gmtDate`` both write UTC (Open
Connectors polls in UTC unless told otherwise); ``gmtDate`` names the zone GMT for ``z``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

from bcpoller.config.javadate import compile_pattern, format_java, resolve_zone

_MACRO = re.compile(r"\$\{([^}]*)\}")
_ZONE_THEN_FORMAT = re.compile(r"((?:GMT|UTC)?[+-]\d{1,2}(?::\d{2})?|[^:]+):(.*)", re.DOTALL)
_EPOCH_UNITS = {"": 1, "s": 1, "ms": 1_000, "us": 1_000_000}
_GMT = ZoneInfo("GMT")
_KNOWN = "${date:FMT}, ${gmtDate:FMT}, ${dateTimeZone:ZONE:FMT}, ${epoch}, ${epoch:s|ms|us}"


def _renderer(body: str) -> Callable[[datetime], str]:
    """A function writing the macro's value for an instant; ValueError names the problem."""
    name, sep, arg = body.partition(":")
    if name == "epoch":
        if arg not in _EPOCH_UNITS:
            raise ValueError(f"${{{body}}}: epoch takes s, ms or us")
        units = _EPOCH_UNITS[arg]
        return lambda moment: _epoch(moment, units)
    if name in ("date", "gmtDate"):
        if not sep or not arg:
            example = f"${{{name}:yyyy-MM-dd'T'HH:mm:ss'Z'}}"
            raise ValueError(f"${{{body}}}: {name} needs a date pattern, e.g. {example}")
        compile_pattern(arg)
        zone: tzinfo = UTC if name == "date" else _GMT
        return lambda moment: format_java(moment, arg, zone)
    if name == "dateTimeZone":
        match = _ZONE_THEN_FORMAT.fullmatch(arg)
        if match is None or not match.group(2):
            example = "${dateTimeZone:America/Denver:yyyy-MM-dd HH:mm:ss}"
            raise ValueError(f"${{{body}}}: dateTimeZone needs a zone and a pattern, e.g. {example}")
        zone = resolve_zone(match.group(1))
        fmt = match.group(2)
        compile_pattern(fmt)
        return lambda moment: format_java(moment, fmt, zone)
    raise ValueError(f"unknown macro ${{{body}}} (known: {_KNOWN})")


def _epoch(moment: datetime, units: int) -> str:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return str((delta.days * 86_400 + delta.seconds) * units + delta.microseconds * units // 1_000_000)


def check_macros(url: str) -> list[str]:
    """Every problem with the URL's macros (empty when all render)."""
    problems: list[str] = []
    for match in _MACRO.finditer(url):
        try:
            _renderer(match.group(1))
        except ValueError as exc:
            message = str(exc)
            if not message.startswith(("${", "unknown macro")):
                message = f"${{{match.group(1)}}}: {message}"
            problems.append(message)
    rest = _MACRO.sub("", url)
    if "${" in rest:
        problems.append(f"unclosed macro at {rest[rest.index('${') :][:30]!r}: a macro ends with }}")
    return problems


MACRO_MARK = "\x00"


def mark_macros(url: str) -> str:
    """The URL with each macro replaced by MACRO_MARK (macro patterns hold quotes that
    would otherwise be read as the where-clause's own)."""
    return _MACRO.sub(MACRO_MARK, url)


def render_url(url: str, lower_bound: datetime) -> str:
    """The URL with every macro replaced by the lower bound's value (ValueError on a bad one)."""
    if lower_bound.tzinfo is None:
        raise ValueError("naive datetime: every instant in this system carries a zone")
    problems = check_macros(url)
    if problems:
        raise ValueError("; ".join(problems))
    return _MACRO.sub(lambda m: _renderer(m.group(1))(lower_bound), url)
