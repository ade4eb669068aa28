"""Java date patterns: every supported letter in both directions, zones, fallbacks."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from zoneinfo import ZoneInfo

import pytest
from bcpoller.config.javadate import (
    compile_pattern,
    format_java,
    parse_any,
    parse_java,
    parse_record_date,
    reset_fallback_reports,
    resolve_zone,
)
from hypothesis import given, settings
from hypothesis import strategies as st

MOMENT = datetime(2017, 4, 20, 11, 32, 5, 123456, tzinfo=UTC)
instants = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2090, 12, 31), timezones=st.just(UTC)
)
# Zones that carry a zone letter in the text survive any zone; without one, the reader
# must be told the zone, and an ambiguous DST hour cannot round-trip (as in Java).
ZONES = [UTC, ZoneInfo("America/Denver"), ZoneInfo("Asia/Kolkata"), ZoneInfo("Europe/Berlin"),
         timezone(timedelta(hours=-8)), timezone(timedelta(hours=5, minutes=30))]  # fmt: skip
FIXED_ZONES = [UTC, timezone(timedelta(hours=-8)), timezone(timedelta(hours=5, minutes=30))]


def truncate(moment: datetime, resolution: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((moment - epoch) // resolution) * resolution


# pattern -> what it keeps of an instant; together they use every letter y M d E H h m s S a z Z X.
ROUND_TRIP_WITH_ZONE = {
    "EEE, dd MMM yyyy HH:mm:ss Z": timedelta(seconds=1),
    "EE, dd MMM yyyy HH:mm:ss Z": timedelta(seconds=1),
    "EEEE, MMMM d, yyyy h:mm:ss a z": timedelta(seconds=1),
    "yyyy-MM-dd'T'HH:mm:ss.SSSXXX": timedelta(milliseconds=1),
    "yyyy-MM-dd'T'HH:mm:ss.SSSSSSX": timedelta(microseconds=1),
    "yyyyMMddHHmmssSSSXX": timedelta(milliseconds=1),
    "yyyy-MM-dd HH:mm:ss zzzz": timedelta(seconds=1),
    "d MMM yyyy hh:mm:ss.SS a ZZZZZ": timedelta(milliseconds=10),
}
ROUND_TRIP_NO_ZONE = {
    "yyyy-MM-dd'T'HH:mm:ss'Z'": timedelta(seconds=1),
    "''yyyy'' MM dd HH mm ss 'o''clock'": timedelta(seconds=1),
    "M/d/yyyy H:m:s": timedelta(seconds=1),
    "dd.MM.yyyy HH:mm": timedelta(minutes=1),
}


@pytest.mark.parametrize("pattern", sorted(ROUND_TRIP_WITH_ZONE))
@pytest.mark.parametrize("zone", ZONES, ids=str)
@settings(max_examples=40, deadline=None)
@given(moment=instants)
def test_format_then_parse_is_the_same_instant(pattern: str, zone, moment: datetime) -> None:
    text = format_java(moment, pattern, zone)
    # The reader is given UTC on purpose: the zone must come from the text.
    assert parse_java(text, pattern, UTC) == truncate(moment, ROUND_TRIP_WITH_ZONE[pattern])


@pytest.mark.parametrize("pattern", sorted(ROUND_TRIP_NO_ZONE))
@pytest.mark.parametrize("zone", FIXED_ZONES, ids=str)
@settings(max_examples=40, deadline=None)
@given(moment=instants)
def test_patterns_without_zone_round_trip_in_the_given_zone(pattern: str, zone, moment: datetime) -> None:
    text = format_java(moment, pattern, zone)
    assert parse_java(text, pattern, zone) == truncate(moment, ROUND_TRIP_NO_ZONE[pattern])


@settings(max_examples=60, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
    )
)
def test_two_digit_year_round_trips_within_javas_pivot(moment: datetime) -> None:
    text = format_java(moment, "yy-MM-dd HH:mm:ss", UTC)
    assert len(text.split("-")[0]) == 2
    assert parse_java(text, "yy-MM-dd HH:mm:ss") == moment.replace(microsecond=0)


@settings(max_examples=80, deadline=None)
@given(moment=instants)
def test_rfc2822_and_iso_patterns_agree_with_the_standard_library(moment: datetime) -> None:
    whole = moment.replace(microsecond=0)
    assert format_java(moment, "EEE, dd MMM yyyy HH:mm:ss Z") == format_datetime(whole)
    assert format_java(moment, "yyyy-MM-dd'T'HH:mm:ssXXX") == whole.isoformat().replace("+00:00", "Z")
    assert format_java(moment, "yyyy-MM-dd'T'HH:mm:ss.SSSSSS") == moment.strftime("%Y-%m-%dT%H:%M:%S.%f")
    assert format_java(moment, "EEEE MMMM hh a") == moment.strftime("%A %B %I %p")


@pytest.mark.parametrize(
    ("pattern", "zone", "expected"),
    [
        ("EEE, dd MMM yyyy HH:mm:ss Z", "GMT", "Thu, 20 Apr 2017 11:32:05 +0000"),
        ("EE, dd MMM yyyy HH:mm:ss Z", "America/Denver", "Thu, 20 Apr 2017 05:32:05 -0600"),
        ("yyyy-MM-dd'T'HH:mm:ss'Z'", "UTC", "2017-04-20T11:32:05Z"),
        ("yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "-08:00", "2017-04-20T03:32:05.123-08:00"),
        ("yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "UTC", "2017-04-20T11:32:05.123Z"),
        ("yyyy-MM-dd'T'HH:mm:ssX", "+0530", "2017-04-20T17:02:05+0530"),
        ("yyyy-MM-dd'T'HH:mm:ssX", "-08:00", "2017-04-20T03:32:05-08"),
        ("yyyy-MM-dd'T'HH:mm:ssXX", "-08:00", "2017-04-20T03:32:05-0800"),
        ("EEEE, MMMM d, yy h:mm a z", "America/Denver", "Thursday, April 20, 17 5:32 AM MDT"),
        ("hh 'o''clock' a, zzzz", "-08:00", "03 o'clock AM, GMT-08:00"),
        ("MMM d HH:mm:ss.S z", "GMT", "Apr 20 11:32:05.1 GMT"),
        ("epoch", "UTC", "1492687925"),
        ("milliseconds", "UTC", "1492687925123"),
    ],
)
def test_format_writes_what_java_writes(pattern: str, zone: str, expected: str) -> None:
    assert format_java(MOMENT, pattern, resolve_zone(zone)) == expected
    parsed = parse_java(expected, pattern, resolve_zone(zone))
    if "y" in pattern or pattern in ("epoch", "milliseconds"):  # a full date: same minute back
        assert abs(parsed - MOMENT) < timedelta(minutes=1)


@pytest.mark.parametrize(
    ("text", "pattern", "expected"),
    [
        (
            "Thu, 20 Apr 2017 11:32:00 -0400",
            "EEE, dd MMM yyyy HH:mm:ss Z",
            datetime(2017, 4, 20, 15, 32, tzinfo=UTC),
        ),
        (
            "thu, 20 apr 2017 11:32:00 GMT",
            "EEE, dd MMM yyyy HH:mm:ss Z",
            datetime(2017, 4, 20, 11, 32, tzinfo=UTC),
        ),
        (
            "2017-04-20T11:32:00.5+02:00",
            "yyyy-MM-dd'T'HH:mm:ss.SXXX",
            datetime(2017, 4, 20, 9, 32, 0, 500000, UTC),
        ),
        ("2017-04-20 11:32 PST", "yyyy-MM-dd HH:mm z", datetime(2017, 4, 20, 18, 32, tzinfo=UTC)),
        ("2017-04-20 11:32 America/Denver", "yyyy-MM-dd HH:mm z", datetime(2017, 4, 20, 17, 32, tzinfo=UTC)),
        ("12:15 AM 1/2/2020", "hh:mm a M/d/yyyy", datetime(2020, 1, 2, 0, 15, tzinfo=UTC)),
        ("12:15 PM 1/2/2020", "hh:mm a M/d/yyyy", datetime(2020, 1, 2, 12, 15, tzinfo=UTC)),
        ("1492687925", "epoch", datetime(2017, 4, 20, 11, 32, 5, tzinfo=UTC)),
        ("1492687925123", "milliseconds", datetime(2017, 4, 20, 11, 32, 5, 123000, tzinfo=UTC)),
    ],
)
def test_parse_reads_what_stores_write(text: str, pattern: str, expected: datetime) -> None:
    assert parse_java(text, pattern) == expected


def test_text_without_zone_is_read_in_the_configured_zone() -> None:
    denver = resolve_zone("America/Denver")
    moment = parse_java("2024-01-15T10:00:00Z", "yyyy-MM-dd'T'HH:mm:ss'Z'", denver)
    assert moment.astimezone(UTC) == datetime(2024, 1, 15, 17, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "offset"),
    [
        ("GMT", timedelta(0)),
        ("UTC", timedelta(0)),
        (None, timedelta(0)),
        ("", timedelta(0)),
        ("-08:00", timedelta(hours=-8)),
        ("+0530", timedelta(hours=5, minutes=30)),
        ("GMT+02:00", timedelta(hours=2)),
        ("-8", timedelta(hours=-8)),
        ("America/Denver", timedelta(hours=-7)),  # January: MST
        ("Europe/Berlin", timedelta(hours=1)),
        ("PST", timedelta(hours=-8)),
        ("EST", timedelta(hours=-5)),
    ],
)
def test_zones_by_name_and_offset(name: str | None, offset: timedelta) -> None:
    zone = resolve_zone(name)
    assert datetime(2024, 1, 15, 12, tzinfo=zone).utcoffset() == offset


@pytest.mark.parametrize("name", ["Mars/Olympus", "+25:00", "GMT+5:99", "not a zone"])
def test_unknown_zones_are_refused_by_name(name: str) -> None:
    with pytest.raises(ValueError, match="time zone"):
        resolve_zone(name)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("yyyy-QQ", "unsupported letter 'Q'"),
        ("yyyy-MM-dd'T", "unterminated quote"),
        ("", "empty"),
        ("yyyy XXXX", "X takes 1 to 3"),
    ],
)
def test_bad_patterns_name_the_problem(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compile_pattern(pattern)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("2017-04-20", "EEE, dd MMM yyyy HH:mm:ss Z"),
        ("2017-13-20", "yyyy-MM-dd"),
        ("2017-02-30", "yyyy-MM-dd"),
        ("13:00 PM", "hh:mm a"),
        ("soon", "epoch"),
    ],
)
def test_parse_refuses_text_that_does_not_fit(text: str, pattern: str) -> None:
    with pytest.raises(ValueError, match=r"pattern|number|valid"):
        parse_java(text, pattern)


def test_format_refuses_naive_instants() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_java(datetime(2024, 1, 1), "yyyy")


@pytest.mark.parametrize(
    ("value", "expected", "how"),
    [
        ("Thu, 20 Apr 2017 11:32:00 +0000", datetime(2017, 4, 20, 11, 32, tzinfo=UTC), "RFC 2822"),
        ("2017-04-20T11:32:00+00:00", datetime(2017, 4, 20, 11, 32, tzinfo=UTC), "ISO 8601"),
        ("2017-04-20T11:32:00Z", datetime(2017, 4, 20, 11, 32, tzinfo=UTC), "ISO 8601"),
        (1492687920, datetime(2017, 4, 20, 11, 32, tzinfo=UTC), "epoch"),
        (1492687920000, datetime(2017, 4, 20, 11, 32, tzinfo=UTC), "epoch"),
        ("1492687920.5", datetime(2017, 4, 20, 11, 32, 0, 500000, tzinfo=UTC), "epoch"),
    ],
)
def test_fallbacks_read_rfc2822_iso_and_epoch(value, expected: datetime, how: str) -> None:
    assert parse_any(value) == (expected, how)


def test_a_fallback_hit_is_reported_once_per_pattern(caplog: pytest.LogCaptureFixture) -> None:
    reset_fallback_reports()
    pattern = "EEE, dd MMM yyyy HH:mm:ss Z"  # the seed's products pattern; v3 writes ISO 8601
    with caplog.at_level(logging.WARNING, logger="bcpoller.config.javadate"):
        first = parse_record_date("2018-08-15T14:48:46+00:00", pattern)
        second = parse_record_date("2018-09-05T20:42:07+00:00", pattern)
        matching = parse_record_date("Wed, 05 Sep 2018 20:42:07 +0000", pattern)
    assert first == datetime(2018, 8, 15, 14, 48, 46, tzinfo=UTC)
    assert second == matching == datetime(2018, 9, 5, 20, 42, 7, tzinfo=UTC)
    reports = [r for r in caplog.records if "did not match" in r.getMessage()]
    assert len(reports) == 1
    assert reports[0].pattern == pattern  # type: ignore[attr-defined]


def test_an_unparseable_record_date_is_an_error_not_a_silent_drop() -> None:
    with pytest.raises(ValueError, match="not a date"):
        parse_record_date("last tuesday", "yyyy-MM-dd")
    with pytest.raises(ValueError, match="not a date"):
        parse_record_date(None, "yyyy-MM-dd")


def test_the_written_abbreviation_picks_the_side_of_a_fall_back_hour() -> None:
    # Found by the round-trip property: 02:00 on 29 Oct 2000 happened twice in Berlin.
    pattern = "EEEE, MMMM d, yyyy h:mm:ss a z"
    cet = parse_java("Sunday, October 29, 2000 2:00:00 AM CET", pattern)
    cest = parse_java("Sunday, October 29, 2000 2:00:00 AM CEST", pattern)
    assert cet == datetime(2000, 10, 29, 1, 0, tzinfo=UTC)
    assert cest == datetime(2000, 10, 29, 0, 0, tzinfo=UTC)
