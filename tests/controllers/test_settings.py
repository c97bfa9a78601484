"""ControllerSettings: what each controller is built with, and errors naming the bad field."""

from __future__ import annotations

import pytest

from orchestra.controllers.manager import ControllerManager
from orchestra.controllers.settings import ControllerSettings, ControllerSettingsError


def test_defaults_leave_each_controller_its_own():
    settings = ControllerSettings()
    assert settings.constructor_kwargs("replicaset") == {"workers": None}
    assert settings.constructor_kwargs("nodelifecycle") == {"workers": None, "grace_period": 50.0}


def test_workers_grace_period_and_options_reach_the_constructor_keywords():
    settings = ControllerSettings(node_monitor_grace_period=3, workers={"job": 2}, default_workers=4,
                                  options={"job": {"backoff_base": 0.5}, "nodelifecycle": {"grace_period": 1.0}})
    assert settings.constructor_kwargs("job") == {"workers": 2, "backoff_base": 0.5}
    assert settings.constructor_kwargs("deployment") == {"workers": 4}
    assert settings.constructor_kwargs("nodelifecycle") == {"workers": 4, "grace_period": 1.0}  # options win


@pytest.mark.parametrize("kwargs, field", [
    (dict(node_monitor_grace_period=0), "node_monitor_grace_period"),
    (dict(node_monitor_grace_period="5"), "node_monitor_grace_period"),
    (dict(workers={"nope": 1}), "workers: unknown controller 'nope'"),
    (dict(workers={"job": 0}), "workers['job']"),
    (dict(default_workers=True), "default_workers"),
    (dict(options={"job": {"nope": 1}}), "controller 'job' has no setting 'nope'"),
    (dict(options={"job": {"workers": 1}}), "controller 'job' has no setting 'workers'"),
    (dict(options={"job": 3}), "options['job'] must be a mapping"),
])
def test_bad_settings_name_the_field(kwargs, field):
    with pytest.raises(ControllerSettingsError) as info:
        ControllerSettings(**kwargs)
    assert field in str(info.value)


async def test_the_manager_builds_controllers_with_its_settings(client):
    settings = ControllerSettings(node_monitor_grace_period=7.0, workers={"replicaset": 2})
    manager = ControllerManager(client, controllers=["replicaset", "nodelifecycle"], settings=settings, workers=3)
    await manager.start()
    try:
        assert manager.controllers["replicaset"].workers == 2
        assert manager.controllers["nodelifecycle"].workers == 3
        assert manager.controllers["nodelifecycle"].grace_period == 7.0
    finally:
        await manager.stop()
