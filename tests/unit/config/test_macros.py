"""URL macros rendered for a lower bound; unknown or broken macros named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from bcpoller.config.javadate import parse_java
from bcpoller.config.macros import check_macros, render_url
from hypothesis import given, settings
from hypothesis import strategies as st

BOUND = datetime(2024, 3, 10, 9, 5, 7, 123456, tzinfo=UTC)  # 03:05 MDT, minutes after Denver's DST switch


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("${date:EEE, dd MMM yyyy HH:mm:ss Z}", "Sun, 10 Mar 2024 09:05:07 +0000"),
        ("${date:EE, dd MMM yyyy HH:mm:ss Z}", "Sun, 10 Mar 2024 09:05:07 +0000"),
        ("${date:yyyy-MM-dd'T'HH:mm:ss.SSSXXX}", "2024-03-10T09:05:07.123Z"),
        ("${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}", "2024-03-10T09:05:07Z"),
        ("${gmtDate:HH:mm z}", "09:05 GMT"),
        ("${dateTimeZone:America/Denver:yyyy-MM-dd HH:mm:ss z}", "2024-03-10 03:05:07 MDT"),
        ("${dateTimeZone:-08:00:yyyy-MM-dd'T'HH:mm:ssXXX}", "2024-03-10T01:05:07-08:00"),
        ("${dateTimeZone:+0530:HH:mm}", "14:35"),
        ("${dateTimeZone:GMT:EEE, dd MMM yyyy HH:mm:ss z}", "Sun, 10 Mar 2024 09:05:07 GMT"),
        ("${epoch}", "1710061507"),
        ("${epoch:s}", "1710061507"),
        ("${epoch:ms}", "1710061507123"),
        ("${epoch:us}", "1710061507123456"),
    ],
)
def test_every_macro_form_renders_the_lower_bound(url: str, expected: str) -> None:
    assert render_url(url, BOUND) == expected
    assert check_macros(url) == []


def test_a_seed_url_renders_in_place() -> None:
    url = "/hubs/ecommerce/orders?where=min_date_modified='${date:EEE, dd MMM yyyy HH:mm:ss Z}'"
    assert (
        render_url(url, BOUND)
        == "/hubs/ecommerce/orders?where=min_date_modified='Sun, 10 Mar 2024 09:05:07 +0000'"
    )
    crm = "/hubs/crm/contacts?where=lastUpdated>'${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}' and x>'${epoch:ms}'"
    assert (
        render_url(crm, BOUND)
        == "/hubs/crm/contacts?where=lastUpdated>'2024-03-10T09:05:07Z' and x>'1710061507123'"
    )


@settings(max_examples=100, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
    ),
    offset=st.integers(min_value=-12 * 60, max_value=14 * 60),
)
def test_rendered_values_read_back_as_the_lower_bound(moment: datetime, offset: int) -> None:
    """Whatever the zone of the bound, every macro names the same instant."""
    bound = moment.astimezone(timezone(timedelta(minutes=offset)))
    fmt = "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX"
    assert parse_java(render_url(f"${{date:{fmt}}}", bound), fmt) == moment
    assert parse_java(render_url(f"${{dateTimeZone:Asia/Tokyo:{fmt}}}", bound), fmt) == moment
    assert int(render_url("${epoch:us}", bound)) == round(
        (moment - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1)
    )


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (
            "/hubs/ecommerce/orders?where=min_date_modified='${dat:yyyy-MM-dd}'",
            "unknown macro ${dat:yyyy-MM-dd}",
        ),
        ("${epoch:ns}", "${epoch:ns}: epoch takes s, ms or us"),
        ("${date}", "${date}: date needs a date pattern"),
        ("${date:yyyy-QQ}", "${date:yyyy-QQ}: date pattern 'yyyy-QQ': unsupported letter 'Q'"),
        ("${dateTimeZone:Mars/Base:yyyy}", "${dateTimeZone:Mars/Base:yyyy}: unknown time zone 'Mars/Base'"),
        ("${dateTimeZone:yyyy}", "dateTimeZone needs a zone and a pattern"),
        ("x=${date:yyyy", "unclosed macro"),
    ],
)
def test_bad_macros_are_named(url: str, problem: str) -> None:
    problems = check_macros(url)
    assert len(problems) == 1
    assert problem in problems[0]
    with pytest.raises(ValueError, match=r"macro|epoch|pattern|zone"):
        render_url(url, BOUND)


def test_every_bad_macro_is_listed() -> None:
    assert len(check_macros("${a}${b:1}${date:yyyy}${epoch:h}")) == 3


def test_render_refuses_a_naive_bound() -> None:
    with pytest.raises(ValueError, match="naive"):
        render_url("${epoch}", datetime(2024, 1, 1))
