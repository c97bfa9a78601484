"""Timestamps as Kubernetes writes them."""

from __future__ import annotations

import re
import time

from orchestra.api.timestamps import format_seconds, now_rfc3339

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def test_now_is_rfc3339_utc_in_whole_seconds():
    assert RFC3339.match(now_rfc3339())
    assert RFC3339.match(now_rfc3339(30))


def test_now_formats_the_current_second_even_when_cached(monkeypatch):
    monkeypatch.setattr(time, "time", lambda: 1_700_000_000.9)
    assert now_rfc3339() == "2023-11-14T22:13:20Z"
    assert now_rfc3339(60) == "2023-11-14T22:14:20Z"
    monkeypatch.setattr(time, "time", lambda: 1_700_000_001.0)
    assert now_rfc3339() == "2023-11-14T22:13:21Z"


def test_seconds_are_formatted_in_utc_and_truncated():
    assert format_seconds(0) == "1970-01-01T00:00:00Z"
    assert format_seconds(1_700_000_000.999) == "2023-11-14T22:13:20Z"
