"""The Deployment controller, one module per behaviour as Kubernetes' ``pkg/controller/deployment``.

- :mod:`.controller`: event handlers and the sync that picks a behaviour;
- :mod:`.sync`: the new ReplicaSet and revisions, proportional scaling, history cleanup, status;
- :mod:`.rolling` / :mod:`.recreate`: the two strategies;
- :mod:`.progress`: the Progressing condition and the progress deadline;
- :mod:`.rollback`: revisions and the client-side rollback ``rollout undo`` does;
- :mod:`.util`: pod-template-hash, annotations, conditions and replica arithmetic.
"""

from orchestra.controllers.deployment.controller import DeploymentController

__all__ = ["DeploymentController"]
