"""ImageLocality: prefer nodes that already have the pod's images."""

from __future__ import annotations

from array import array

from orchestra._ext import sched
from orchestra.hookspecs import hookimpl
from orchestra.scheduler.framework import SKIP, CycleState, NodeBatch, Plugin, PluginProfile, Status
from orchestra.scheduler.podinfo import PodInfo
from orchestra.scheduler.query import image_ids
from orchestra.scheduler.snapshot import ClusterSnapshot

__all__ = ["ImageLocality", "orchestra_scheduler_plugins"]


class ImageLocality(Plugin):
    """Score: Σ image size × (nodes with the image / nodes), clamped to
    [23 MiB, 1000 MiB × containers] and scaled to 0-100."""

    NAME = "ImageLocality"
    SIGNED_PREPARATION = True
    TRUSTED_SCORES = True

    def pre_score(self, state: CycleState, pod: PodInfo, batch: NodeBatch) -> Status | None:
        """Compile the pod's images the cluster knows; skip (every node scores 0) when there are none."""
        if not pod.num_containers:
            return SKIP
        known = image_ids(batch.snapshot, pod)
        if not known:
            return SKIP
        state.query.set_images(known, pod.num_containers)
        return None

    def sign(self, pod: PodInfo, snapshot: ClusterSnapshot) -> tuple:
        """The pod's container images."""
        return pod.images

    def fuse_score(self, plan: sched.ScorePlan, weight: int, profile: PluginProfile) -> int:
        """Join the framework's fused score pass, which reads the images :meth:`pre_score`
        compiled; not when this plugin's pre-score is disabled."""
        if self not in profile.points["preScore"]:
            return 0
        plan.add_images(weight)
        return sched.S_IMAGES

    def score_batch(self, state: CycleState, pod: PodInfo, batch: NodeBatch) -> array:
        """The image score of every candidate."""
        out = array("q", bytes(8 * batch.size))
        known = image_ids(batch.snapshot, pod)
        if known and pod.num_containers:
            sched.score_images(batch.snapshot.table, known, pod.num_containers, batch.snapshot.num_nodes, batch.slots, out)
        return out


@hookimpl
def orchestra_scheduler_plugins() -> list[type]:
    """Provide :class:`ImageLocality`."""
    return [ImageLocality]
