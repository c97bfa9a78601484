"""Copying a container's stdout and stderr pipes into its CRI log file."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from orchestra.aio import wait_for
from orchestra.node.runtime import ContainerLogWriter, LogStream

__all__ = ["pump_output", "OutputPipes", "CHUNK"]

#: Bytes read from a pipe at a time.
CHUNK = 64 * 1024


async def pump_output(reader: asyncio.StreamReader, writer: ContainerLogWriter, stream: LogStream) -> None:
    """Copy ``reader`` to ``writer`` line by line until end of file.

    A line longer than the writer's ``max_line`` is written as partial lines as
    it arrives; output that ends without a newline is logged as a partial line.
    """
    pending = b""
    while True:
        chunk = await reader.read(CHUNK)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            writer.write(stream, line + b"\n")
        while len(pending) >= writer.max_line:
            writer.write(stream, pending[: writer.max_line])
            pending = pending[writer.max_line :]
    if pending:
        writer.write(stream, pending)


def _pipe_file(loop: asyncio.AbstractEventLoop, fd: int) -> Any:
    """The file object ``loop.connect_read_pipe`` gets for pipe ``fd``; the fd is closed once, by the
    transport.

    asyncio's transport closes the file object. uvloop's closes the fd itself (libuv) and then
    the file object as well (MagicStack/uvloop#763): a second close of the same number, which by
    then may be another thread's new file. So under uvloop the file object does not own the fd.
    """
    return os.fdopen(fd, "rb", 0, closefd=type(loop).__module__.partition(".")[0] != "uvloop")


class OutputPipes:
    """Two pipes for a container's stdout and stderr, copied into its log as they are written.

    The write ends go to the child process; the parent closes its copies right
    after spawning (:meth:`close_write_ends`), so end of file comes when the last
    process holding them exits. Plain pipes rather than asyncio's subprocess
    pipes: asyncio's ``Process.wait()`` waits for its pipes to close too, so a
    stray grandchild holding them would hide the container's exit.
    """

    def __init__(self, writer: ContainerLogWriter) -> None:
        self.writer = writer
        self.stdout_fd, self._stdout_w = -1, -1
        self.stderr_fd = -1
        self._pumps: list[asyncio.Future] = []
        self._transports: list[asyncio.BaseTransport] = []

    async def open(self) -> "OutputPipes":
        """Create the pipes and start copying; ``stdout_fd``/``stderr_fd`` are the write ends."""
        loop = asyncio.get_running_loop()
        for stream in (LogStream.STDOUT, LogStream.STDERR):
            read_fd, write_fd = os.pipe()
            if stream is LogStream.STDOUT:
                self.stdout_fd = write_fd
            else:
                self.stderr_fd = write_fd
            reader = asyncio.StreamReader(limit=CHUNK * 2, loop=loop)
            transport, _ = await loop.connect_read_pipe(
                lambda r=reader: asyncio.StreamReaderProtocol(r), _pipe_file(loop, read_fd)
            )
            self._transports.append(transport)
            self._pumps.append(asyncio.ensure_future(pump_output(reader, self.writer, stream)))
        return self

    def close_write_ends(self) -> None:
        """Close the parent's copies of the write ends (idempotent)."""
        for name in ("stdout_fd", "stderr_fd"):
            fd = getattr(self, name)
            if fd >= 0:
                os.close(fd)
                setattr(self, name, -1)

    async def finish(self, timeout: float | None = None) -> None:
        """Wait until both pipes reach end of file (at most ``timeout``), then stop copying."""
        self.close_write_ends()
        try:
            await wait_for(asyncio.gather(*self._pumps, return_exceptions=True), timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            for pump in self._pumps:
                pump.cancel()
            for transport in self._transports:
                transport.close()
            self.writer.close()
