"""``orchestra rollout status|history|undo|pause|resume|restart deployment/NAME``, as kubectl's.

- ``status`` prints what ``kubectl rollout status`` prints, from the same status fields, and
  with ``--watch`` (the default) follows the deployment until it is rolled out, fails its
  progress deadline, or ``--timeout`` passes;
- ``history`` lists the revisions kept in the deployment's ReplicaSets (``--revision N``: that
  revision's pod template);
- ``undo [--to-revision N]`` patches the deployment's template back to a kept revision's, as
  ``kubectl rollout undo`` does in apps/v1 (see :mod:`orchestra.controllers.deployment.rollback`);
- ``pause`` / ``resume`` set ``spec.paused``; ``restart`` stamps the template with
  ``kubectl.kubernetes.io/restartedAt`` so every pod is replaced.
"""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import click

from orchestra.aio import wait_for
from orchestra.api.codec import dumps_yaml
from orchestra.cli.common import CommandError, Connection, connection_options, fail, parse_targets, run
from orchestra.client import Client, ResourceExpired
from orchestra.controllers.deployment import util
from orchestra.controllers.deployment.rollback import RollbackError, owned_replica_sets, revisions, rollback

__all__ = ["rollout_command", "status_message", "RolloutFailed", "RESTARTED_AT_ANNOTATION"]

RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
_LABEL = "deployment.apps"


class RolloutFailed(CommandError):
    """The rollout cannot finish (its progress deadline passed, or the revision is not the wanted one)."""


def status_message(deployment: dict, revision: int = 0) -> tuple[str, bool]:
    """``(message, done)`` for a deployment, worded as ``kubectl rollout status``; raises RolloutFailed."""
    name = deployment["metadata"]["name"]
    if revision:
        current = util.revision_of(deployment)
        if current != revision:
            raise RolloutFailed(f"desired revision ({revision}) is different from the running revision ({current})")
    status = deployment.get("status") or {}
    if int(deployment["metadata"].get("generation") or 0) > int(status.get("observedGeneration") or 0):
        return "Waiting for deployment spec update to be observed...", False
    cond = util.get_condition(status, "Progressing")
    if cond is not None and cond.get("reason") == "ProgressDeadlineExceeded":
        raise RolloutFailed(f'deployment "{name}" exceeded its progress deadline')
    desired = util.replicas_of(deployment)
    updated = int(status.get("updatedReplicas") or 0)
    replicas = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    if updated < desired:
        return (f'Waiting for deployment "{name}" rollout to finish: {updated} out of {desired} new replicas '
                "have been updated..."), False
    if replicas > updated:
        return (f'Waiting for deployment "{name}" rollout to finish: {replicas - updated} old replicas are '
                "pending termination..."), False
    if available < updated:
        return (f'Waiting for deployment "{name}" rollout to finish: {available} of {updated} updated replicas '
                "are available..."), False
    return f'deployment "{name}" successfully rolled out', True


def _deployment_names(args: tuple[str, ...]) -> list[str]:
    names = []
    for target in parse_targets(args):
        if target.rtype.plural != "deployments":
            raise CommandError(f"no rollout support for kind {target.rtype.kind!r} (only deployments)")
        if not target.names:
            raise CommandError("required resource not specified")
        names.extend(target.names)
    return names


# ---------------------------------------------------------------------------- status


async def _follow(client: Client, namespace: str, name: str, revision: int, watch: bool) -> None:
    deployment = await client.get("deployments", name, namespace=namespace, raw=True)
    last = None
    while True:
        message, done = status_message(deployment, revision)
        if message != last:
            click.echo(message)
            last = message
        if done or not watch:
            return
        try:
            async for event in client.watch("deployments", namespace=namespace, field_selector=f"metadata.name={name}",
                                            resource_version=deployment["metadata"]["resourceVersion"], raw=True):
                if event.type == "DELETED":
                    raise CommandError(f'deployment "{name}" was deleted')
                if event.type in ("ADDED", "MODIFIED"):
                    deployment = event.object
                    break
            else:
                deployment = await client.get("deployments", name, namespace=namespace, raw=True)
        except ResourceExpired:
            deployment = await client.get("deployments", name, namespace=namespace, raw=True)


async def _status(conn: Connection, args: tuple[str, ...], revision: int, watch: bool, timeout: float) -> None:
    names = _deployment_names(args)
    async with conn.client() as client:
        for name in names:
            follow = _follow(client, conn.namespace, name, revision, watch)
            if timeout > 0:
                try:
                    await wait_for(follow, timeout)
                except asyncio.TimeoutError:
                    raise CommandError("timed out waiting for the condition") from None
            else:
                await follow


# ---------------------------------------------------------------------------- history


async def _history(conn: Connection, args: tuple[str, ...], revision: int) -> None:
    names = _deployment_names(args)
    async with conn.client() as client:
        for name in names:
            deployment = await client.get("deployments", name, namespace=conn.namespace, raw=True)
            kept = revisions(await owned_replica_sets(client, deployment))
            if revision:
                match = [r for r in kept if r.number == revision]
                if not match:
                    raise CommandError(f"unable to find the specified revision {revision}")
                template = dict((match[0].replica_set.get("spec") or {}).get("template") or {})
                labels = dict((template.get("metadata") or {}).get("labels") or {})
                labels.pop(util.POD_TEMPLATE_HASH_LABEL, None)
                template["metadata"] = {**(template.get("metadata") or {}), "labels": labels}
                click.echo(f"{_LABEL}/{name} with revision #{revision}")
                click.echo("Pod Template:")
                for line in dumps_yaml(template).splitlines():
                    click.echo(f"  {line}")
                continue
            click.echo(f"{_LABEL}/{name} ")
            width = max(len("REVISION"), *(len(str(r.number)) for r in kept)) if kept else len("REVISION")
            click.echo(f"{'REVISION'.ljust(width)}  CHANGE-CAUSE")
            for r in kept:
                click.echo(f"{str(r.number).ljust(width)}  {r.change_cause or '<none>'}")
            click.echo("")


# ---------------------------------------------------------------------------- undo, pause, resume, restart


async def _undo(conn: Connection, args: tuple[str, ...], to_revision: int) -> None:
    async with conn.client() as client:
        for name in _deployment_names(args):
            try:
                target, changed = await rollback(client, name, conn.namespace, to_revision)
            except RollbackError as exc:
                raise CommandError(str(exc)) from None
            if changed:
                click.echo(f"{_LABEL}/{name} rolled back")
            else:
                click.echo(f"{_LABEL}/{name} skipped rollback (current template already matches revision "
                           f"{target.number})")


async def _set_paused(conn: Connection, args: tuple[str, ...], paused: bool) -> int:
    failures = 0
    verb = "paused" if paused else "resumed"
    async with conn.client() as client:
        for name in _deployment_names(args):
            deployment = await client.get("deployments", name, namespace=conn.namespace, raw=True)
            if bool((deployment.get("spec") or {}).get("paused")) == paused:
                state = "already paused" if paused else "not paused"
                click.echo(f'error: deployments.apps "{name}" is {state}', err=True)
                failures += 1
                continue
            await client.patch("deployments", name, {"spec": {"paused": paused}}, namespace=conn.namespace)
            click.echo(f"{_LABEL}/{name} {verb}")
    return failures


async def _restart(conn: Connection, args: tuple[str, ...]) -> None:
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    async with conn.client() as client:
        for name in _deployment_names(args):
            deployment = await client.get("deployments", name, namespace=conn.namespace, raw=True)
            if (deployment.get("spec") or {}).get("paused"):
                raise CommandError("can't restart paused deployment (run rollout resume first)")
            patch: dict[str, Any] = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: stamp}}}}}
            await client.patch("deployments", name, patch, namespace=conn.namespace, patch_type="strategic")
            click.echo(f"{_LABEL}/{name} restarted")


# ---------------------------------------------------------------------------- commands


@click.group("rollout")
def rollout_command() -> None:
    """Manage the rollout of Deployments: status, history, undo, pause, resume, restart."""


@rollout_command.command("status")
@click.argument("args", nargs=-1, required=True, metavar="deployment/NAME | deployment NAME")
@click.option("--revision", type=click.IntRange(min=0), default=0, help="Pin to a revision (0: the latest).")
@click.option("-w", "--watch", type=click.BOOL, default=True, is_flag=False, flag_value=True, show_default=True,
              help="Follow until rolled out (--watch=false: report once).")
@click.option("--timeout", type=float, default=0, help="Seconds to wait before giving up (0: forever).")
@connection_options
def status_command(conn: Connection, args: tuple[str, ...], revision: int, watch: bool, timeout: float) -> None:
    """Show the status of a rollout, following it until it completes."""
    run(lambda: _status(conn, args, revision, watch, timeout))


@rollout_command.command("history")
@click.argument("args", nargs=-1, required=True, metavar="deployment/NAME | deployment NAME")
@click.option("--revision", type=click.IntRange(min=0), default=0, help="Show this revision's pod template.")
@connection_options
def history_command(conn: Connection, args: tuple[str, ...], revision: int) -> None:
    """List the kept revisions of a deployment."""
    run(lambda: _history(conn, args, revision))


@rollout_command.command("undo")
@click.argument("args", nargs=-1, required=True, metavar="deployment/NAME | deployment NAME")
@click.option("--to-revision", type=click.IntRange(min=0), default=0, help="The revision to go back to (0: the previous).")
@connection_options
def undo_command(conn: Connection, args: tuple[str, ...], to_revision: int) -> None:
    """Roll a deployment back to a previous revision."""
    run(lambda: _undo(conn, args, to_revision))


@rollout_command.command("pause")
@click.argument("args", nargs=-1, required=True, metavar="deployment/NAME | deployment NAME")
@connection_options
def pause_command(conn: Connection, args: tuple[str, ...]) -> None:
    """Pause a deployment: template changes wait until it is resumed."""
    if run(lambda: _set_paused(conn, args, True)):
        fail("")


@rollout_command.command("resume")
@click.argument("args", nargs=-1, required=True, metavar="deployment/NAME | deployment NAME")
@connection_options
def resume_command(conn: Connection, args: tuple[str, ...]) -> None:
    """Resume a paused deployment."""
    if run(lambda: _set_paused(conn, args, False)):
        fail("")


@rollout_command.command("restart")
@click.argument("args", nargs=-1, required=True, metavar="deployment/NAME | deployment NAME")
@connection_options
def restart_command(conn: Connection, args: tuple[str, ...]) -> None:
    """Replace every pod of a deployment with a rolling update."""
    run(lambda: _restart(conn, args))
