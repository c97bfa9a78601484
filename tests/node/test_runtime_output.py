"""A container's output pipes: copied into its log, and each pipe's read end closed exactly once."""

from __future__ import annotations

import asyncio
import io
import os

from orchestra.node.runtime import ContainerLogWriter
from orchestra.plugins.runtimes import output
from orchestra.plugins.runtimes.output import OutputPipes


class StealingFile(io.FileIO):
    """A pipe's file object that, when closed, first opens a pipe of its own: if its fd was already
    closed by someone else, the new pipe takes that number, and closing the fd again would close it."""

    stolen: list[tuple[int, int]] = []

    def close(self) -> None:
        if not self.closed:
            self.stolen.append(os.pipe())
        super().close()


async def test_output_is_logged_and_no_pipe_end_is_closed_twice(tmp_path, monkeypatch):
    monkeypatch.setattr(output.os, "fdopen",
                        lambda fd, mode, buffering, closefd=True: StealingFile(fd, "r", closefd=closefd))
    writer = ContainerLogWriter(str(tmp_path / "c.log"))
    pipes = await OutputPipes(writer).open()
    os.write(pipes.stdout_fd, b"hello\n")
    os.write(pipes.stderr_fd, b"oops\n")
    await pipes.finish(timeout=10)
    await asyncio.sleep(0)
    assert len(StealingFile.stolen) == 2
    try:
        for read_end, write_end in StealingFile.stolen:
            os.fstat(read_end)  # still open: nobody closed an fd that was not theirs
            os.fstat(write_end)
    finally:
        for fds in StealingFile.stolen:
            for fd in fds:
                os.close(fd)
        StealingFile.stolen.clear()
    log = (tmp_path / "c.log").read_text()
    assert " stdout F hello\n" in log and " stderr F oops\n" in log
