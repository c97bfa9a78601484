"""Instruction counts under callgrind: a child's window is counted, and only its window."""

from __future__ import annotations

import shutil

import pytest

from orchestra.bench import callgrind

needs_valgrind = pytest.mark.skipif(callgrind.missing() is not None, reason=f"{callgrind.missing()}")


def _loop_child(iterations: int) -> list[str]:
    """A child that runs a Python loop of ``iterations`` inside its window, and work outside it."""
    code = (
        "from orchestra.bench.callgrind import instrument\n"
        "import json; json.dumps(list(range(200_000)))\n"  # outside the window: not counted
        "def spin(n):\n"
        "    for _ in range(n): pass\n"
        "instrument(True)\n"
        f"spin({iterations})\n"
        "instrument(False)\n"
        "json.dumps(list(range(200_000)))\n"
        "print('done')\n"
    )
    return ["-c", code]


def test_read_total_takes_the_totals_line(tmp_path):
    profile = tmp_path / "callgrind.out"
    profile.write_text("version: 1\nevents: Ir\nsummary: 0\nfn=(1) main\n3 7\ntotals: 123456\n")
    assert callgrind.read_total(profile) == 123456


def test_a_profile_without_totals_is_an_error_naming_the_file(tmp_path):
    profile = tmp_path / "callgrind.out"
    profile.write_text("version: 1\nevents: Ir\n")
    with pytest.raises(callgrind.CallgrindError, match=r"callgrind.out: no 'totals:' line"):
        callgrind.read_total(profile)


def test_missing_names_the_absent_tools(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda tool: None if tool == "callgrind_control" else f"/usr/bin/{tool}")
    assert callgrind.missing() == "callgrind_control not found on PATH (Debian: apt-get install valgrind)"
    monkeypatch.setattr(shutil, "which", lambda tool: None)
    assert callgrind.missing().startswith("valgrind and callgrind_control not found")


async def test_count_refuses_without_valgrind(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda tool: None)
    with pytest.raises(callgrind.CallgrindError, match="cannot count instructions: valgrind and callgrind_control"):
        await callgrind.count(["-c", "pass"])


@needs_valgrind
async def test_only_the_window_is_counted_and_counts_repeat():
    small, out = await callgrind.count(_loop_child(10_000))
    assert out.strip() == "done"
    again, _ = await callgrind.count(_loop_child(10_000))
    large, _ = await callgrind.count(_loop_child(110_000))
    # the 100,000 extra iterations are what the larger window adds: tens of instructions each
    per_iteration = (large - small) / 100_000
    assert 5 < per_iteration < 500
    # the same window counts the same to within 1%; the json work outside it (far more) is not counted
    assert abs(again - small) <= small / 100
    assert small < 100_000 * per_iteration


@needs_valgrind
async def test_a_failing_child_raises_with_its_error():
    with pytest.raises(callgrind.CallgrindError, match=r"exited with 1:[\s\S]*ZeroDivisionError"):
        await callgrind.count(["-c", "1 / 0"])
