"""A writer for the crash tests of the ``file://`` store; the test SIGKILLs it at random moments.

Usage: ``python file_store_writer.py URL ROUND SEED COMPACT`` (``COMPACT`` 1 lets it compact).

It opens the store, prints ``ready <revision>``, then runs concurrent writers
forever. After each write is acknowledged it prints one line (flushed at once),
so every complete line the parent reads is a write the store acknowledged:

* ``put <key> <revision> <lease>``: a put of a new key; its value is ``value(key)``.
* ``del <key> <revision>``: a delete of a key printed earlier as put (keys start ``d/``).
* ``lease <id>``: a lease granted with a TTL of one hour.
* ``compact <revision>``: a compaction.

Keys that start with ``k/`` are never deleted.
"""

from __future__ import annotations

import asyncio
import random
import sys

from orchestra.plugins.stores.file import open_file_store
from orchestra.store.types import PutOp

__all__ = ["value", "main"]

WRITERS = 16


def value(key: bytes) -> bytes:
    """The value the writer stores under ``key``."""
    return b"value of " + key + b" " + b"x" * (len(key) % 50)


async def run(url: str, round_number: int, seed: int, compact: bool) -> None:
    """Write until killed."""
    rng = random.Random(seed)
    store = await open_file_store(url)
    out = sys.stdout
    out.write(f"ready {await store.current_revision()}\n")
    out.flush()
    leases: list[int] = []
    deletable: list[bytes] = []
    counter = 0

    def report(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    async def writer(index: int) -> None:
        nonlocal counter
        while True:
            counter += 1
            n = counter
            choice = rng.random()
            if choice < 0.55:
                prefix = b"d/" if rng.random() < 0.3 else b"k/"
                key = prefix + b"%d/%d/%d" % (round_number, index, n)
                lease = rng.choice(leases) if leases and rng.random() < 0.2 else 0
                result = await store.put(key, value(key), lease=lease)
                if prefix == b"d/":
                    deletable.append(key)
                report(f"put {key.decode()} {result.revision} {lease}")
            elif choice < 0.75:
                keys = [b"k/%d/%d/%d/%d" % (round_number, index, n, i) for i in range(rng.randint(2, 4))]
                result = await store.txn([], [PutOp(k, value(k)) for k in keys])
                for k in keys:
                    report(f"put {k.decode()} {result.revision} 0")
            elif choice < 0.9 and deletable:
                key = deletable.pop(rng.randrange(len(deletable)))
                result = await store.delete_range(key)
                report(f"del {key.decode()} {result.revision}")
            elif choice < 0.93:
                lease = await store.lease_grant(3600)
                leases.append(lease.id)
                report(f"lease {lease.id}")
            elif choice < 0.94 and compact:
                revision = await store.current_revision()
                target = revision - 50
                if target > store.core.compact_revision:
                    await store.compact(target)
                    report(f"compact {target}")

    await asyncio.gather(*(writer(i) for i in range(WRITERS)))


def main() -> None:
    """Entry point: ``URL ROUND SEED COMPACT`` from the command line."""
    url, round_number, seed, compact = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
    asyncio.run(run(url, round_number, seed, compact))


if __name__ == "__main__":
    main()
