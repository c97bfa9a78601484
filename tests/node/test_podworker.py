"""PodWorker: the status it writes builds on the newest copy of its pod it has seen."""

from __future__ import annotations

from orchestra.node.podworker import PodContext, PodWorker


def _pod(resource_version: str, initialized_at: str) -> dict:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default", "uid": "u-1", "resourceVersion": resource_version},
        "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "busybox"}]},
        "status": {"conditions": [{"type": "Initialized", "status": "True", "lastTransitionTime": initialized_at}]},
    }


def _worker(watched: dict) -> PodWorker:
    # status() reads only the pod, the view and the host IP: the other parts are never touched.
    context = PodContext(client=None, runtime=None, events=None, node_name="node-1", host_ip="10.0.0.1",
                         crash_backoff=None, image_backoff=None, get_object=None)
    return PodWorker(context, watched)


def _initialized_at(status: dict) -> str:
    (condition,) = [c for c in status["conditions"] if c["type"] == "Initialized"]
    return condition["lastTransitionTime"]


def test_a_lagging_watched_pod_does_not_undo_the_workers_own_last_write():
    worker = _worker(_pod("5", "2026-01-01T00:00:00Z"))
    worker._written_pod = _pod("7", "2026-01-01T00:00:01Z")
    assert _initialized_at(worker.status()) == "2026-01-01T00:00:01Z"


def test_a_watched_pod_newer_than_the_last_write_wins():
    worker = _worker(_pod("9", "2026-01-01T00:00:02Z"))
    worker._written_pod = _pod("7", "2026-01-01T00:00:01Z")
    assert _initialized_at(worker.status()) == "2026-01-01T00:00:02Z"


def test_before_any_write_the_watched_pod_is_used():
    worker = _worker(_pod("5", "2026-01-01T00:00:00Z"))
    assert _initialized_at(worker.status()) == "2026-01-01T00:00:00Z"
