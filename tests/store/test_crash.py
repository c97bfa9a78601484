"""Crash safety of the file:// store: SIGKILL a writer at random moments, reopen, check.

A writer process (``tests/support/file_store_writer.py``) reports every
acknowledged write over a pipe. After each kill the test reopens the store and
checks that every acknowledged write is there with its revision, that
revisions are consecutive, and that the next round can go on writing.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import attrs
import pytest

from orchestra.plugins.stores.file import open_file_store
from orchestra.store.errors import LeaseNotFoundError

WRITER = os.path.join(os.path.dirname(os.path.dirname(__file__)), "support", "file_store_writer.py")
ROUNDS = int(os.environ.get("ORCHESTRA_CRASH_ROUNDS", "20"))

sys.path.insert(0, os.path.dirname(WRITER))
from file_store_writer import value  # noqa: E402


@attrs.define
class Expectations:
    """What the acknowledged writes of all rounds so far promise."""

    puts: dict[bytes, tuple[int, int]] = attrs.field(factory=dict)  # key -> (revision, lease)
    deleted: dict[bytes, int] = attrs.field(factory=dict)
    leases: set[int] = attrs.field(factory=set)
    compact: int = 0
    max_revision: int = 0

    def take(self, line: str) -> None:
        """Record one acknowledged write."""
        kind, *fields = line.split()
        if kind == "put":
            key, revision, lease = fields[0].encode(), int(fields[1]), int(fields[2])
            self.puts[key] = (revision, lease)
            self.max_revision = max(self.max_revision, revision)
        elif kind == "del":
            self.deleted[fields[0].encode()] = int(fields[1])
            self.max_revision = max(self.max_revision, int(fields[1]))
        elif kind == "lease":
            self.leases.add(int(fields[0]))
        elif kind == "compact":
            self.compact = max(self.compact, int(fields[0]))


def run_round(url: str, number: int, rng: random.Random, expected: Expectations, compact: bool) -> int:
    """Start a writer, let it get some writes acknowledged, SIGKILL it; returns lines read."""
    child = subprocess.Popen(
        [sys.executable, WRITER, url, str(number), str(rng.randrange(1 << 30)), "1" if compact else "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = child.stdout.readline()
        assert ready.startswith("ready"), ready + child.stderr.read()
        assert int(ready.split()[1]) >= expected.max_revision, "a reopened store lost revisions"
        wanted = rng.randint(1, 1500)
        lines = 0
        for line in child.stdout:
            expected.take(line)
            lines += 1
            if lines >= wanted:
                break
        time.sleep(rng.uniform(0, 0.02))
    finally:
        child.send_signal(signal.SIGKILL)
    for line in child.stdout:  # acknowledged before the kill, still in the pipe
        if line.endswith("\n"):
            expected.take(line)
            lines += 1
    child.wait()
    assert child.returncode == -signal.SIGKILL, child.stderr.read()
    return lines


async def check(url: str, expected: Expectations) -> None:
    """Every acknowledged write is in the reopened store; revisions are consecutive."""
    store = await open_file_store(url)
    try:
        core = store.core
        revision = core.revision
        compact = core.compact_revision
        assert revision >= expected.max_revision
        assert compact >= expected.compact
        for key, (mod_revision, lease) in expected.puts.items():
            kv = core.get_kv(key)
            if key in expected.deleted:
                assert kv is None, f"{key!r} was deleted at {expected.deleted[key]} but is back"
                continue
            if kv is None:
                assert key.startswith(b"d/"), f"acknowledged put of {key!r} at {mod_revision} is lost"
                continue
            assert kv == (key, value(key), mod_revision, mod_revision, 1, lease)
        for lease_id in expected.leases:
            try:
                await store.lease_time_to_live(lease_id)
            except LeaseNotFoundError:
                pytest.fail(f"acknowledged lease {lease_id} is lost")
        changed = sorted({kv[3] for _, kv, _ in core.events(compact + 1)}) if revision > compact else []
        assert changed == list(range(compact + 1, revision + 1)), "revisions are not consecutive"
    finally:
        await store.close()


@pytest.mark.slow
async def test_acknowledged_writes_survive_sigkill(tmp_path):
    url = f"file://{tmp_path}?snapshot_every=300&segment_bytes=65536"
    rng = random.Random(int(os.environ.get("ORCHESTRA_CRASH_SEED", "20261129")))
    expected = Expectations()
    total = 0
    snapshotted = False
    for number in range(ROUNDS):
        # The first half never compacts, the second does: snapshots with and without a base.
        compact = number >= ROUNDS // 2
        total += run_round(url, number, rng, expected, compact)
        await check(url, expected)
        snapshotted = snapshotted or any(name.endswith(".snap") for name in os.listdir(tmp_path))
    assert total > ROUNDS, "the writer should have acknowledged writes in every round"
    assert snapshotted, "no snapshot was taken: raise the rounds or lower snapshot_every"
