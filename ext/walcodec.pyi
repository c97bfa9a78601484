"""Type stubs of the write-ahead log's C encoder (``orchestra._ext.walcodec``, built from ``ext/walcodec.pyx``)."""

__all__ = ["encode_put"]

def encode_put(lsn: int, revision: int, key: bytes, value: bytes, lease: int, /) -> bytes:
    """The log record (LSN ``lsn``) of the write at ``revision`` that puts ``value`` under ``key``:
    byte for byte what ``wal.encode_write`` makes of it."""
