"""Timestamps as Kubernetes writes them."""

from __future__ import annotations

import re
import time

from hypothesis import given, strategies as st

from orchestra._ext.timestamps import format_utc_second
from orchestra.api.timestamps import format_seconds, now_rfc3339

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def test_now_is_rfc3339_utc_in_whole_seconds():
    assert RFC3339.match(now_rfc3339())
    assert RFC3339.match(now_rfc3339(30))


def test_now_is_the_current_second_plus_the_offset_even_when_cached():
    for offset in (0, 0, 60, -3600, 0):
        before = int(time.time())
        stamp = now_rfc3339(offset)
        after = int(time.time())
        assert stamp in {format_seconds(before + offset), format_seconds(after + offset)}
    first, again = now_rfc3339(), now_rfc3339()
    assert first is again or first != again  # the text of one second is made once


def test_seconds_are_formatted_in_utc_and_truncated():
    assert format_seconds(0) == "1970-01-01T00:00:00Z"
    assert format_seconds(1_700_000_000.999) == "2023-11-14T22:13:20Z"


@given(st.integers(min_value=-62_135_596_800, max_value=253_402_300_799))  # years 1 to 9999
def test_the_compiled_formatting_of_a_second_is_the_python_one(second):
    assert format_utc_second(second) == format_seconds(second)
