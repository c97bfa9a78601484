"""Instruction counts under valgrind's callgrind: figures that repeat where timings do not.

On a shared machine a benchmark's wall-clock and CPU-time figures move by a third from one
run to the next; the number of instructions the same work executes moves by well under 1%.
:func:`count` runs a Python command in a child process under ``valgrind --tool=callgrind``
with instrumentation off; the child calls :func:`instrument` to switch it on when its
measured window opens and off when it closes, so setup and teardown are not counted.

Switching is done by ``callgrind_control`` (valgrind's own tool, talking to the child
through valgrind's gdbserver), so the child needs no compiled helper. Starting
``callgrind_control`` to switch off is counted: about 400,000 instructions, a constant to
keep in mind for very small windows.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

__all__ = ["CallgrindError", "count", "instrument", "missing", "read_total"]

#: The valgrind programs :func:`count` and :func:`instrument` run.
TOOLS = ("valgrind", "callgrind_control")


class CallgrindError(RuntimeError):
    """The child under callgrind failed, or its profile could not be read."""


def missing() -> str | None:
    """Why instructions cannot be counted here (a tool not on PATH), or None when they can."""
    absent = [tool for tool in TOOLS if shutil.which(tool) is None]
    if absent:
        return f"{' and '.join(absent)} not found on PATH (Debian: apt-get install valgrind)"
    return None


def instrument(on: bool) -> None:
    """Switch callgrind's instrumentation of this process on or off (the process must run
    under ``valgrind --tool=callgrind``; see :func:`count`)."""
    subprocess.run(["callgrind_control", "--instr=" + ("on" if on else "off"), str(os.getpid())],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def read_total(path: Path) -> int:
    """The instructions a callgrind profile counted in all (its ``totals:`` line)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("totals:"):
                return int(line.split()[1])
    raise CallgrindError(f"{path}: no 'totals:' line; the child ended before callgrind wrote its profile")


async def count(args: Sequence[str]) -> tuple[int, str]:
    """Run ``python <args>`` under callgrind with instrumentation off until the child switches
    it on; return the instructions counted and the child's standard output.

    The child inherits this process's environment, with ``PYTHONHASHSEED=0`` unless a seed is
    set: string hashes seeded at random change how often dicts and sets probe, enough to move
    a count by a few tenths of a percent between runs. A child that fails raises
    :class:`CallgrindError` with the end of its standard error.
    """
    reason = missing()
    if reason:
        raise CallgrindError(f"cannot count instructions: {reason}")
    with tempfile.TemporaryDirectory(prefix="orchestra-callgrind-") as tmp:
        profile = Path(tmp) / "callgrind.out"
        proc = await asyncio.create_subprocess_exec(
            "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={profile}",
            sys.executable, *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=tmp,
            env={"PYTHONHASHSEED": "0", **os.environ})
        out, err = await proc.communicate()
        if proc.returncode != 0:
            tail = "\n".join(err.decode(errors="replace").splitlines()[-15:])
            raise CallgrindError(f"the child under callgrind exited with {proc.returncode}:\n{tail}")
        return read_total(profile), out.decode(errors="replace")
