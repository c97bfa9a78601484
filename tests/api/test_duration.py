"""Go durations: what parses, to how many seconds, and what is refused."""

from __future__ import annotations

import pytest

from orchestra.api.duration import is_go_duration, parse_go_duration


@pytest.mark.parametrize(("text", "seconds"), [
    ("15s", 15.0), ("1m30s", 90.0), ("500ms", 0.5), ("1h", 3600.0), ("1.5h", 5400.0), (".5s", 0.5),
    ("2us", 2e-6), ("2µs", 2e-6), ("3ns", 3e-9), ("1h2m3s", 3723.0),
])
def test_durations_parse_to_seconds(text, seconds):
    assert is_go_duration(text)
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "15", "s", "1x", "1m 30s", "-5s", " 5s", "5S", "1.s.5"])
def test_anything_else_is_refused(text):
    assert not is_go_duration(text)
    with pytest.raises(ValueError, match="not a duration"):
        parse_go_duration(text)


def test_a_non_string_is_not_a_duration():
    assert not is_go_duration(15)  # type: ignore[arg-type]
