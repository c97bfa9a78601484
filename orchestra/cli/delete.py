"""``orchestra delete KIND NAME... | KIND/NAME... | -f FILE | KIND -l SELECTOR | KIND --all``.

Prints ``deployment.apps "web" deleted`` per object, as kubectl does. ``--cascade`` picks the
propagation policy (``background`` by default, ``foreground``, ``orphan``); ``--grace-period``
overrides the object's grace period (``--now`` is ``--grace-period=1``).
"""

from __future__ import annotations

import click

from orchestra.api.registry import ResourceType
from orchestra.cli.common import (
    CommandError,
    Connection,
    connection_options,
    document_label,
    error_line,
    fail,
    filename_options,
    load_manifests,
    parse_targets,
    resource_label,
    run,
)
from orchestra.client import ApiStatusError, Client, UnknownKindError
from orchestra.client.apply import kind_of_manifest

__all__ = ["delete_command", "PROPAGATION_POLICIES"]

PROPAGATION_POLICIES = {"background": "Background", "foreground": "Foreground", "orphan": "Orphan"}
"""``--cascade`` values → DeleteOptions.propagationPolicy."""


async def _delete_one(client: Client, rtype: ResourceType, name: str, namespace: str | None, policy: str,
                      grace: int | None, ignore_not_found: bool, where: str = "") -> bool:
    try:
        await client.delete(rtype, name, namespace=namespace, propagation_policy=policy,
                            grace_period_seconds=grace, raw=True)
    except ApiStatusError as exc:
        if exc.code == 404 and ignore_not_found:
            return True
        click.echo(error_line(exc) + (f" (deleting {where})" if where else ""), err=True)
        return False
    click.echo(f'{resource_label(rtype)} "{name}" deleted')
    return True


async def _delete(conn: Connection, args: tuple[str, ...], filenames: tuple[str, ...], recursive: bool,
                  label_selector: str | None, delete_all: bool, policy: str, grace: int | None,
                  ignore_not_found: bool) -> int:
    failures = 0
    async with conn.client() as client:
        if filenames:
            for doc in load_manifests(filenames, recursive):
                try:
                    rtype = kind_of_manifest(doc.data)
                except UnknownKindError as exc:
                    failures += 1
                    click.echo(f"error: {exc} ({document_label(doc)})", err=True)
                    continue
                meta = doc.data.get("metadata") or {}
                if not isinstance(meta, dict) or not meta.get("name"):
                    failures += 1
                    click.echo(f"error: the object has no metadata.name ({document_label(doc)})", err=True)
                    continue
                namespace = (meta.get("namespace") or conn.namespace) if rtype.namespaced else None
                ok = await _delete_one(client, rtype, meta["name"], namespace, policy, grace, ignore_not_found,
                                       document_label(doc))
                failures += not ok
            return failures
        for target in parse_targets(args):
            rtype = target.rtype
            namespace = conn.namespace if rtype.namespaced else None
            names = list(target.names)
            if not names:
                if not (label_selector or delete_all):
                    raise CommandError("resource(s) were provided, but no name was specified "
                                       "(give names, -l SELECTOR or --all)")
                listed = await client.list(rtype, namespace=namespace, label_selector=label_selector, raw=True)
                names = [item["metadata"]["name"] for item in listed.items]
                if not names:
                    click.echo(f"No resources found in {namespace} namespace." if namespace
                               else "No resources found", err=True)
            for name in names:
                failures += not await _delete_one(client, rtype, name, namespace, policy, grace, ignore_not_found)
    return failures


@click.command("delete")
@click.argument("args", nargs=-1, metavar="KIND NAME... | KIND/NAME...")
@filename_options
@click.option("-l", "--selector", "label_selector", default=None, help="Delete the objects matching this selector.")
@click.option("--all", "delete_all", is_flag=True, help="Delete every object of the kind in the namespace.")
@click.option("--cascade", type=click.Choice(sorted(PROPAGATION_POLICIES)), default="background", show_default=True,
              help="What happens to dependents: deleted in the background, before the owner, or orphaned.")
@click.option("--grace-period", type=int, default=-1, show_default=True,
              help="Seconds the object gets to terminate (-1: the object's own default; 0: at once).")
@click.option("--now", is_flag=True, help="Same as --grace-period=1.")
@click.option("--ignore-not-found", is_flag=True, help="A missing object is not an error.")
@connection_options
def delete_command(conn: Connection, args: tuple[str, ...], filenames: tuple[str, ...], recursive: bool,
                   label_selector: str | None, delete_all: bool, cascade: str, grace_period: int, now: bool,
                   ignore_not_found: bool) -> None:
    """Delete objects by kind and name, by manifest, or by label selector."""
    if filenames and args:
        raise click.UsageError("give either -f FILE or KIND NAME..., not both")
    if not filenames and not args:
        raise click.UsageError("you must specify the type of resource to delete, or -f FILE")
    if now and grace_period >= 0:
        raise click.UsageError("--now and --grace-period cannot be specified together")
    grace = 1 if now else (grace_period if grace_period >= 0 else None)
    policy = PROPAGATION_POLICIES[cascade]
    if run(lambda: _delete(conn, args, filenames, recursive, label_selector, delete_all, policy, grace,
                           ignore_not_found)):
        fail("")
