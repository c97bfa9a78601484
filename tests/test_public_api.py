"""The public names of the top-level package are pinned: changing them is a deliberate act."""

import orchestra


def test_all_is_pinned():
    assert sorted(orchestra.__all__) == sorted(
        [
            "__version__",
            "hookimpl",
            "hookspec",
            "get_plugin_manager",
            "await_maybe",
            "DEFAULT_PLUGINS",
            "Cluster",
        ]
    )


def test_every_public_name_exists():
    for name in orchestra.__all__:
        assert hasattr(orchestra, name), name


def test_markers_are_for_orchestra():
    assert orchestra.hookimpl.project_name == "orchestra"
    assert orchestra.hookspec.project_name == "orchestra"
