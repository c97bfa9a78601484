"""Typed store errors, mirroring etcd's so that every backend fails the same way."""

from __future__ import annotations

__all__ = [
    "StoreError",
    "CompactedError",
    "FutureRevisionError",
    "RequestTooLargeError",
    "TooManyOperationsError",
    "DuplicateKeyError",
    "EmptyKeyError",
    "LeaseNotFoundError",
    "LeaseExistsError",
    "UnknownSchemeError",
    "InvalidStoreURLError",
    "StoreUnavailableError",
    "StoreLockedError",
    "CorruptionError",
    "StoreClosedError",
]


class StoreError(Exception):
    """Base class of every error a store raises."""


class CompactedError(StoreError):
    """The requested revision has been compacted away (etcd: ``ErrCompacted``).

    ``compact_revision`` is the store's compact revision; the API server turns
    this error into ``410 Gone``.
    """

    def __init__(self, revision: int, compact_revision: int) -> None:
        self.revision = revision
        self.compact_revision = compact_revision
        super().__init__(
            f"required revision {revision} has been compacted (compact revision is {compact_revision})"
        )


class FutureRevisionError(StoreError):
    """The requested revision is newer than the store's current one (etcd: ``ErrFutureRev``)."""

    def __init__(self, revision: int, current_revision: int) -> None:
        self.revision = revision
        self.current_revision = current_revision
        super().__init__(
            f"required revision {revision} is a future revision (current revision is {current_revision})"
        )


class RequestTooLargeError(StoreError):
    """A request is larger than the store accepts (etcd: ``ErrRequestTooLarge``, 1.5 MiB)."""

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"request is too large: {size} bytes, the limit is {limit} bytes")


class TooManyOperationsError(StoreError):
    """A transaction holds more operations than allowed (etcd: ``ErrTooManyOps``, 128)."""

    def __init__(self, count: int, limit: int) -> None:
        self.count = count
        self.limit = limit
        super().__init__(f"too many operations in txn request: {count}, the limit is {limit}")


class DuplicateKeyError(StoreError):
    """A transaction writes one key more than once (etcd: ``ErrDuplicateKey``)."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        super().__init__(f"duplicate key given in txn request: {key!r}")


class EmptyKeyError(StoreError):
    """A key is empty (etcd: ``ErrEmptyKey``)."""

    def __init__(self) -> None:
        super().__init__("key is not provided")


class LeaseNotFoundError(StoreError):
    """The lease does not exist or has expired (etcd: ``ErrLeaseNotFound``)."""

    def __init__(self, lease_id: int) -> None:
        self.lease_id = lease_id
        super().__init__(f"requested lease not found: {lease_id:x}")


class LeaseExistsError(StoreError):
    """A lease was granted with an ID that is already in use (etcd: ``ErrLeaseExist``)."""

    def __init__(self, lease_id: int) -> None:
        self.lease_id = lease_id
        super().__init__(f"lease already exists: {lease_id:x}")


class UnknownSchemeError(StoreError):
    """No store plugin opens URLs of this scheme."""

    def __init__(self, url: str, scheme: str, known: list[str]) -> None:
        self.url = url
        self.scheme = scheme
        self.known = sorted(known)
        listed = ", ".join(f"{s}://" for s in self.known) or "none"
        super().__init__(f"unknown store URL scheme {scheme!r} in {url!r}; known schemes: {listed}")


class InvalidStoreURLError(StoreError):
    """A store URL is malformed for its scheme (a missing path, a bad port, …)."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"invalid store URL {url!r}: {reason}")


class StoreUnavailableError(StoreError):
    """The store cannot be reached (after the backend's retries)."""


class StoreLockedError(StoreError):
    """The store's data directory is held by another process (named in the message)."""

    def __init__(self, path: str, holder: str) -> None:
        self.path = path
        self.holder = holder
        super().__init__(f"store data directory {path} is in use by {holder}")


class CorruptionError(StoreError):
    """Stored data is damaged where it cannot be repaired; names the file and byte offset."""

    def __init__(self, path: str, offset: int, reason: str) -> None:
        self.path = path
        self.offset = offset
        self.reason = reason
        super().__init__(f"{path}: corrupt data at offset {offset}: {reason}")


class StoreClosedError(StoreError):
    """The store was used after :meth:`Store.close`."""

    def __init__(self) -> None:
        super().__init__("store is closed")
