"""Request checks every backend applies before touching data, so that all fail alike."""

from __future__ import annotations

from typing import Sequence

from orchestra.store.errors import (
    DuplicateKeyError,
    EmptyKeyError,
    RequestTooLargeError,
    TooManyOperationsError,
)
from orchestra.store.types import MAX_REQUEST_BYTES, MAX_TXN_OPS, Compare, DeleteOp, Op, PutOp

__all__ = ["check_key", "check_put", "check_txn"]


def check_key(key: bytes) -> None:
    """Refuse an empty key."""
    if not key:
        raise EmptyKeyError()


def check_put(key: bytes, value: bytes) -> None:
    """Refuse an empty key or a put larger than :data:`MAX_REQUEST_BYTES`."""
    if not key:
        raise EmptyKeyError()
    size = len(key) + len(value)
    if size > MAX_REQUEST_BYTES:
        raise RequestTooLargeError(size, MAX_REQUEST_BYTES)


def check_txn(compare: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op]) -> None:
    """Refuse a transaction etcd would refuse: too many ops, too large, a key written twice.

    As in etcd, the operation limit applies to each branch and to the compares
    separately, and a key may be written at most once per branch.
    """
    for ops in (compare, success, failure):
        if len(ops) > MAX_TXN_OPS:
            raise TooManyOperationsError(len(ops), MAX_TXN_OPS)
    size = 0
    for c in compare:
        check_key(c.key)
        size += len(c.key) + (len(c.operand) if isinstance(c.operand, bytes) else 8)
    for ops in (success, failure):
        written: set[bytes] = set()
        for op in ops:
            check_key(op.key)
            size += len(op.key)
            if isinstance(op, PutOp):
                size += len(op.value)
                if op.key in written:
                    raise DuplicateKeyError(op.key)
                written.add(op.key)
            elif isinstance(op, DeleteOp) and op.range_end is None:
                if op.key in written:
                    raise DuplicateKeyError(op.key)
                written.add(op.key)
    if size > MAX_REQUEST_BYTES:
        raise RequestTooLargeError(size, MAX_REQUEST_BYTES)
