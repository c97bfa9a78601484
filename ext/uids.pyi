"""Type stubs of the UID formatter (``orchestra._ext.uids``, built from ``ext/uids.pyx``)."""

__all__ = ["uuid4_texts"]

def uuid4_texts(random: bytes, /) -> list[str]:
    """The version 4 UUID texts that each 16 bytes of ``random`` give (RFC 4122's version and variant bits set)."""
