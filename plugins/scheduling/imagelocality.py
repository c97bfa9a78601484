"""ImageLocality: prefer nodes that already have the pod's images."""

from __future__ import annotations

from array import array

from orchestra._ext import sched
from orchestra.hookspecs import hookimpl
from orchestra.scheduler.framework import CycleState, NodeBatch, Plugin
from orchestra.scheduler.podinfo import PodInfo

__all__ = ["ImageLocality", "orchestra_scheduler_plugins"]


class ImageLocality(Plugin):
    """Score: Σ image size × (nodes with the image / nodes), clamped to
    [23 MiB, 1000 MiB × containers] and scaled to 0-100."""

    NAME = "ImageLocality"
    TRUSTED_SCORES = True

    def score_batch(self, state: CycleState, pod: PodInfo, batch: NodeBatch) -> array:
        """The image score of every candidate."""
        out = array("q", bytes(8 * batch.size))
        images = batch.snapshot.images
        known = array("i", [i for i in (images.get(n) for n in pod.images) if i >= 0])
        if known and pod.num_containers:
            sched.score_images(batch.snapshot.table, known, pod.num_containers, batch.snapshot.num_nodes, batch.slots, out)
        return out


@hookimpl
def orchestra_scheduler_plugins() -> list[type]:
    """Provide :class:`ImageLocality`."""
    return [ImageLocality]
