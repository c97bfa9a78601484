"""Usage figures of a process group from ``/proc``: CPU ticks and resident memory."""

from __future__ import annotations

import os

__all__ = ["session_processes", "session_usage", "CLOCK_TICKS", "PAGE_SIZE"]

#: Kernel clock ticks per second (``utime``/``stime`` unit).
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: Bytes per memory page (``statm`` unit).
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # the command name (field 2) may contain spaces and parentheses: split after its last ")"
    return raw[raw.rfind(")") + 2 :].split()


def session_processes(session_id: int) -> list[int]:
    """The pids of every live process of the session led by ``session_id``."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        # fields[0] is field 3 (state); session is field 6
        if fields is not None and int(fields[3]) == session_id and fields[0] != "Z":
            pids.append(int(entry))
    return pids


def session_usage(session_id: int) -> tuple[int, int]:
    """``(cpu_nanoseconds, rss_bytes)`` summed over the session's processes.

    CPU counts each process's user and system time plus that of its reaped
    children, so work done by short-lived helpers is not lost.
    """
    cpu_ticks = rss_pages = 0
    for pid in session_processes(session_id):
        fields = _stat_fields(pid)
        if fields is None:
            continue
        # utime, stime, cutime, cstime are fields 14-17; rss (pages) is field 24
        cpu_ticks += sum(int(v) for v in fields[11:15])
        rss_pages += int(fields[21])
    return cpu_ticks * 1_000_000_000 // CLOCK_TICKS, rss_pages * PAGE_SIZE
