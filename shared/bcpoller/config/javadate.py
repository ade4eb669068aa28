"""Java date patterns, as Open Connectors users write them, in both directions.

Letters: ``y M d E H h m s S a z Z X`` and quoted literals (``'T'``, ``'Z'``, ``''`` for a
quote), with Java's counts (``MMM`` = Jan, ``MMMM`` = January, ``EE`` = ``EEE`` = Thu,
``EEEE`` = Thursday, ``XXX`` = +08:00 or Z). ``epoch`` / ``seconds`` and ``milliseconds``
/ ``millis`` are whole patterns for numeric values. Text is English, as the store writes it.

A record date that does not match its configured pattern is read by the fallbacks (RFC
2822, ISO 8601, epoch numbers) and the mismatch is logged once per pattern: the seed's
products poller says ``EEE, dd MMM yyyy HH:mm:ss Z`` while v3 records are ISO 8601, and
an event must not be lost because of that.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

logger = logging.getLogger(__name__)

LETTERS = "yMdEHhmsSazZX"
MONTHS = [
    *("January", "February", "March", "April", "May", "June"),
    *("July", "August", "September", "October", "November", "December"),
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
# Whole-pattern names for numeric values: pattern (lowercased) -> units per second.
EPOCH_PATTERNS: dict[str, int] = {"epoch": 1, "seconds": 1, "milliseconds": 1000, "millis": 1000}

# Java's three-letter zone IDs that are not tz database names (TimeZone.getTimeZone).
_JAVA_SHORT_IDS = {
    "PST": "America/Los_Angeles",
    "CST": "America/Chicago",
    "AST": "America/Anchorage",
    "IST": "Asia/Kolkata",
    "JST": "Asia/Tokyo",
    "AET": "Australia/Sydney",
    "BST": "Asia/Dhaka",
    "ECT": "Europe/Paris",
}
# Daylight abbreviations met in formatted text: fixed offsets in hours.
_DST_ABBREVIATIONS = {"EDT": -4, "CDT": -5, "MDT": -6, "PDT": -7, "AKDT": -8, "HDT": -9, "CEST": 2, "EEST": 3}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_GMT = ZoneInfo("GMT")
_OFFSET = re.compile(r"(?:GMT|UTC|UT)?([+-])(\d{1,2})(?::?(\d{2}))?", re.IGNORECASE)


def resolve_zone(name: str | None) -> tzinfo:
    """A zone by name (``GMT``, ``America/Denver``) or offset (``-08:00``, ``+0530``)."""
    text = (name or "").strip()
    if text.upper() in ("GMT", "GMT0"):
        return _GMT  # so that `z` writes GMT, as Java does for this zone
    if text.upper() in ("", "UTC", "Z", "UT", "ZULU", "UTC0"):
        return UTC
    match = _OFFSET.fullmatch(text)
    if match:
        sign, hours, minutes = match.group(1), int(match.group(2)), int(match.group(3) or 0)
        if hours > 18 or minutes > 59:
            raise ValueError(f"time zone offset {text!r} is out of range (at most ±18:00)")
        offset = timedelta(hours=hours, minutes=minutes) * (-1 if sign == "-" else 1)
        return UTC if not offset else timezone(offset)
    if text.upper() in _DST_ABBREVIATIONS:
        return timezone(timedelta(hours=_DST_ABBREVIATIONS[text.upper()]))
    for candidate in (text, _JAVA_SHORT_IDS.get(text.upper(), "")):
        if not candidate:
            continue
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    raise ValueError(f"unknown time zone {text!r}: use a name (America/Denver) or an offset (-08:00)")


@dataclass(frozen=True)
class _Token:
    letter: str  # "" for a literal
    count: int
    text: str = ""


@lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> tuple[_Token, ...]:
    """The pattern's tokens; ValueError names what is wrong with it."""
    if not pattern or not pattern.strip():
        raise ValueError("the date pattern is empty")
    if pattern.strip().lower() in EPOCH_PATTERNS:
        return (_Token("#", EPOCH_PATTERNS[pattern.strip().lower()]),)
    tokens: list[_Token] = []
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "'":
            if i + 1 < n and pattern[i + 1] == "'":
                tokens.append(_Token("", 0, "'"))
                i += 2
                continue
            j, buf = i + 1, []
            while True:
                if j >= n:
                    raise ValueError(f"date pattern {pattern!r} has an unterminated quote")
                if pattern[j] == "'":
                    if j + 1 < n and pattern[j + 1] == "'":
                        buf.append("'")
                        j += 2
                        continue
                    break
                buf.append(pattern[j])
                j += 1
            tokens.append(_Token("", 0, "".join(buf)))
            i = j + 1
        elif char.isascii() and char.isalpha():
            j = i
            while j < n and pattern[j] == char:
                j += 1
            if char not in LETTERS:
                raise ValueError(
                    f"date pattern {pattern!r}: unsupported letter {char!r} "
                    f"(supported: {' '.join(LETTERS)}, quoted literals, epoch, milliseconds)"
                )
            if char == "X" and j - i > 3:
                raise ValueError(f"date pattern {pattern!r}: X takes 1 to 3 letters")
            tokens.append(_Token(char, j - i))
            i = j
        else:
            tokens.append(_Token("", 0, char))
            i += 1
    merged: list[_Token] = []
    for token in tokens:
        if not token.letter and merged and not merged[-1].letter:
            merged[-1] = _Token("", 0, merged[-1].text + token.text)
        else:
            merged.append(token)
    return tuple(merged)


def is_epoch_pattern(pattern: str | None) -> bool:
    return bool(pattern) and pattern.strip().lower() in EPOCH_PATTERNS  # type: ignore[union-attr]


# ---------------------------------------------------------------- formatting


def format_java(moment: datetime, pattern: str, tz: tzinfo = UTC) -> str:
    """``moment`` written with a Java pattern, in zone ``tz``."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: every instant in this system carries a zone")
    tokens = compile_pattern(pattern)
    if tokens[0].letter == "#":
        units = tokens[0].count
        delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
        return str((delta.days * 86400 + delta.seconds) * units + delta.microseconds * units // 1_000_000)
    local = moment.astimezone(tz)
    return "".join(_format_token(local, t) for t in tokens)


def _format_token(local: datetime, token: _Token) -> str:
    letter, count = token.letter, token.count
    if not letter:
        return token.text
    if letter == "y":
        return f"{local.year % 100:02d}" if count == 2 else f"{local.year:0{count}d}"
    if letter == "M":
        if count >= 4:
            return MONTHS[local.month - 1]
        return MONTHS[local.month - 1][:3] if count == 3 else f"{local.month:0{count}d}"
    if letter == "E":
        name = DAYS[local.weekday()]
        return name if count >= 4 else name[:3]
    if letter == "a":
        return "AM" if local.hour < 12 else "PM"
    if letter == "S":
        digits = f"{local.microsecond:06d}"
        return digits[:count] if count <= 6 else digits + "0" * (count - 6)
    if letter in "zZX":
        return _format_zone(local, letter, count)
    value = {
        "d": local.day,
        "H": local.hour,
        "h": local.hour % 12 or 12,
        "m": local.minute,
        "s": local.second,
    }[letter]
    return f"{value:0{count}d}"


def _format_zone(local: datetime, letter: str, count: int) -> str:
    offset = local.utcoffset() or timedelta(0)
    total = int(offset.total_seconds()) // 60
    sign = "-" if total < 0 else "+"
    hours, minutes = divmod(abs(total), 60)
    if letter == "z":
        name = local.tzname() or ""
        if name.startswith("UTC") and name != "UTC":  # fixed offsets: Java writes GMT-08:00
            name = "GMT" + name[3:]
        return name if name and name[0] not in "+-" else f"GMT{sign}{hours:02d}:{minutes:02d}"
    if letter == "Z":
        if count == 4:
            return f"GMT{sign}{hours:02d}:{minutes:02d}"
        if count >= 5:
            return "Z" if total == 0 else f"{sign}{hours:02d}:{minutes:02d}"
        return f"{sign}{hours:02d}{minutes:02d}"
    if total == 0:
        return "Z"
    if count == 1:
        return f"{sign}{hours:02d}" + (f"{minutes:02d}" if minutes else "")
    return f"{sign}{hours:02d}{':' if count == 3 else ''}{minutes:02d}"


# ---------------------------------------------------------------- parsing

_NUMERIC = set("yMdHhmsS")
_MONTH_ALTS = "|".join(sorted({*MONTHS, *(m[:3] for m in MONTHS), "Sept"}, key=len, reverse=True))
_DAY_ALTS = "|".join(sorted({*DAYS, *(d[:3] for d in DAYS)}, key=len, reverse=True))
_ZONE_TEXT = (
    r"(?:GMT|UTC|UT)[+-]\d{1,2}(?::?\d{2})?|[+-]\d{2}(?::?\d{2})?|[A-Za-z][A-Za-z_]*(?:/[A-Za-z_+-]+)*"
)


def _is_numeric(token: _Token) -> bool:
    return token.letter in _NUMERIC and not (token.letter == "M" and token.count >= 3)


@lru_cache(maxsize=256)
def _parser(pattern: str) -> re.Pattern[str]:
    tokens = compile_pattern(pattern)
    parts: list[str] = []
    for index, token in enumerate(tokens):
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        adjacent = following is not None and _is_numeric(following)
        parts.append(_token_regex(token, index, adjacent))
    return re.compile("".join(parts), re.IGNORECASE)


def _token_regex(token: _Token, index: int, adjacent: bool) -> str:
    letter, count = token.letter, token.count
    if not letter:
        return re.escape(token.text)
    group = f"(?P<g{index}>"
    if letter == "y":
        body = r"\d{2}" if count == 2 else (r"\d{4}" if adjacent else r"\d{1,4}")
    elif letter == "M" and count >= 3:
        body = _MONTH_ALTS
    elif letter == "E":
        body = _DAY_ALTS
    elif letter == "a":
        body = "AM|PM|A\\.M\\.|P\\.M\\."
    elif letter == "S":
        body = rf"\d{{{count}}}" if adjacent else rf"\d{{{count},9}}"
    elif letter == "z":
        body = _ZONE_TEXT
    elif letter == "Z":
        body = r"Z|(?:GMT|UTC)?[+-]\d{2}:?\d{2}|GMT|UTC"
    elif letter == "X":
        body = r"Z|[+-]\d{2}(?::?\d{2})?"
    else:
        body = rf"\d{{{count}}}" if adjacent and count >= 2 else r"\d{1,2}"
    return group + body + ")"


def parse_java(text: str, pattern: str, tz: tzinfo = UTC) -> datetime:
    """The instant ``text`` names under a Java pattern; ``tz`` when the text has no zone."""
    tokens = compile_pattern(pattern)
    if tokens[0].letter == "#":
        return _from_epoch(text, tokens[0].count, pattern)
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not text: pattern {pattern!r} needs a string")
    match = _parser(pattern).fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} does not match the date pattern {pattern!r}")
    fields = {"y": 1970, "M": 1, "d": 1, "H": 0, "m": 0, "s": 0}
    micro, pm, twelve, zone = 0, None, None, None
    zone_text: str | None = None
    for index, token in enumerate(tokens):
        if not token.letter:
            continue
        value = match.group(f"g{index}")
        letter = token.letter
        if letter == "y":
            fields["y"] = _two_digit_year(int(value)) if token.count == 2 else int(value)
        elif letter == "M":
            fields["M"] = int(value) if value.isdigit() else _month_number(value)
        elif letter == "S":
            micro = int((value + "000000")[:6])
        elif letter == "a":
            pm = value.upper().startswith("P")
        elif letter == "h":
            twelve = int(value)
        elif letter in "zZX":
            zone = resolve_zone(value)
            zone_text = value
        elif letter in "dHms":
            fields[letter] = int(value)
    hour = fields["H"]
    if twelve is not None:
        if not 1 <= twelve <= 12:
            raise ValueError(f"{text!r}: hour {twelve} is not on a 12-hour clock (pattern {pattern!r})")
        hour = twelve % 12 + (12 if pm else 0)
    elif pm is not None and pm and hour < 12:
        hour += 12
    try:
        naive = datetime(fields["y"], fields["M"], fields["d"], hour, fields["m"], fields["s"], micro)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid date under pattern {pattern!r}: {exc}") from None
    moment = naive.replace(tzinfo=zone or tz)
    if zone is not None and zone_text is not None:
        # In the hour a clock falls back, "2:00 AM CET" and "2:00 AM CEST" are different
        # instants: the written abbreviation says which side of the change was meant.
        other = moment.replace(fold=1 - moment.fold)
        if moment.tzname() != other.tzname() and other.tzname() == zone_text.strip():
            # As a fixed offset: Python never finds a fold=1 time equal to another zone's.
            offset = other.utcoffset()
            moment = other.astimezone(timezone(offset)) if offset is not None else other
    return moment


def _month_number(name: str) -> int:
    lowered = name.lower()[:3]
    return next(i for i, month in enumerate(MONTHS, 1) if month.lower().startswith(lowered))


def _two_digit_year(value: int) -> int:
    # Java's pivot: the century that puts the year within 80 years before to 20 after now.
    now = datetime.now(UTC).year
    year = now - now % 100 + value
    if year > now + 20:
        year -= 100
    elif year <= now - 80:
        year += 100
    return year


def _from_epoch(value: Any, units: int, pattern: str) -> datetime:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number ({pattern!r} needs one)")
    try:
        number = float(value) if isinstance(value, int | float) else float(str(value).strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a number ({pattern!r} needs one)") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"{value!r} is not a finite number")
    if isinstance(value, int) or (isinstance(value, str) and value.strip().lstrip("-").isdigit()):
        whole = int(value)
        seconds, rest = divmod(whole, units)
        return _EPOCH + timedelta(seconds=seconds, microseconds=rest * 1_000_000 // units)
    return _EPOCH + timedelta(seconds=number / units)


# ---------------------------------------------------------------- record dates

_reported: set[str] = set()
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def parse_any(value: Any, tz: tzinfo = UTC) -> tuple[datetime, str]:
    """(instant, which fallback read it): RFC 2822, ISO 8601 or an epoch number."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=tz)), "datetime"
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{value!r} is not a date")
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value.strip())):
        number = float(value)
        # Magnitude tells the unit: seconds until the year 5138, then ms, then µs.
        units = 1 if abs(number) < 1e11 else 1000 if abs(number) < 1e14 else 1_000_000
        return _from_epoch(value, units, "epoch"), "epoch"
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a date")
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text)
        return (moment if moment.tzinfo else moment.replace(tzinfo=tz)), "ISO 8601"
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"{value!r} is not a date (tried RFC 2822, ISO 8601 and epoch numbers)") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=tz)), "RFC 2822"


def parse_record_date(value: Any, pattern: str | None, tz: tzinfo = UTC) -> datetime:
    """A record's date: by its pattern first, then the fallbacks (reported once per pattern)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    if pattern:
        try:
            return parse_java(value, pattern, tz)
        except ValueError:
            pass
    moment, how = parse_any(value, tz)
    if pattern and pattern not in _reported:
        _reported.add(pattern)
        logger.warning(
            "record date did not match its configured pattern; read as %s instead",
            how,
            extra={"pattern": pattern, "value": str(value)[:64]},
        )
    return moment


def reset_fallback_reports() -> None:
    """Forget which patterns were reported (tests)."""
    _reported.clear()
