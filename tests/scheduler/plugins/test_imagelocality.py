"""ImageLocality: image sizes on the node scaled by spread, clamped to [23 MiB, 1000 MiB × containers]."""

from scheduler.sched_builders import make_framework, make_node, make_pod, make_snapshot, only, scores_of

MB = 1024 * 1024


def test_score_scales_with_size_and_spread():
    images = [{"names": ["registry/app:1.0"], "sizeBytes": 500 * MB}]
    snap = make_snapshot([make_node("n1", images=images), make_node("n2")])
    scores = scores_of(make_framework(only("ImageLocality")), make_pod("p", image="registry/app:1.0"), snap)
    # 500 MiB × 1/2 nodes = 250 MiB -> 100 × (250 - 23) / (1000 - 23) = 23
    assert scores == {"n1": 23, "n2": 0}


def test_untagged_images_are_compared_as_latest():
    images = [{"names": ["busybox:latest"], "sizeBytes": 2000 * MB}]
    snap = make_snapshot([make_node("n1", images=images)] + [make_node("n2", images=images)])
    assert scores_of(make_framework(only("ImageLocality")), make_pod("p", image="busybox"), snap) == {"n1": 100, "n2": 100}


def test_small_images_score_nothing():
    images = [{"names": ["tiny:1"], "sizeBytes": 10 * MB}]
    snap = make_snapshot([make_node("n1", images=images), make_node("n2", images=images)])
    assert scores_of(make_framework(only("ImageLocality")), make_pod("p", image="tiny:1"), snap) == {"n1": 0, "n2": 0}
