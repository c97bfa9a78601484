"""The controllers: loops that move the cluster's actual state toward the desired state.

Each controller is one module (the Deployment controller one package) built on
:mod:`orchestra.controllers.base`; :class:`~orchestra.controllers.manager.ControllerManager`
runs the enabled ones behind leader election.
"""

__all__: list[str] = []
