"""``orchestra scale KIND/NAME... | KIND NAME... --replicas N [--current-replicas M]``.

Changes ``spec.replicas`` through the ``scale`` subresource (``autoscaling/v1`` Scale): a merge
patch, or — with ``--current-replicas`` — a read of the Scale and a conditional update that
fails when the count is not the expected one or the object changed in between.
"""

from __future__ import annotations

import click

from orchestra.api.registry import ResourceType
from orchestra.cli.common import (
    CommandError,
    Connection,
    connection_options,
    error_line,
    fail,
    parse_targets,
    resource_label,
    run,
)
from orchestra.client import ApiStatusError, Client, resource_path

__all__ = ["scale_command", "scale_object"]


async def scale_object(client: Client, rtype: ResourceType, name: str, namespace: str | None, replicas: int,
                       current_replicas: int | None = None) -> dict:
    """Set the replicas of one object through its scale subresource; returns the new Scale."""
    if "scale" not in rtype.subresources:
        raise CommandError(f"{resource_label(rtype)} {name!r} cannot be scaled (the kind has no scale subresource)")
    path = resource_path(rtype, namespace, name, "scale")
    if current_replicas is None:
        return await client.request_json("PATCH", path, body={"spec": {"replicas": replicas}},
                                         content_type="application/merge-patch+json")
    scale = await client.request_json("GET", path)
    actual = (scale.get("spec") or {}).get("replicas", 0)
    if actual != current_replicas:
        raise CommandError(f"Expected replicas to be {current_replicas}, was {actual} "
                           f"({resource_label(rtype)}/{name})")
    scale.setdefault("spec", {})["replicas"] = replicas
    scale.pop("status", None)
    return await client.request_json("PUT", path, body=scale)


async def _scale(conn: Connection, args: tuple[str, ...], replicas: int, current_replicas: int | None) -> int:
    failures = 0
    async with conn.client() as client:
        for target in parse_targets(args):
            if not target.names:
                raise CommandError("resource(s) were provided, but no name was specified")
            namespace = conn.namespace if target.rtype.namespaced else None
            for name in target.names:
                try:
                    await scale_object(client, target.rtype, name, namespace, replicas, current_replicas)
                except (ApiStatusError, CommandError) as exc:
                    failures += 1
                    click.echo(error_line(exc), err=True)
                    continue
                click.echo(f"{resource_label(target.rtype)}/{name} scaled")
    return failures


@click.command("scale")
@click.argument("args", nargs=-1, required=True, metavar="KIND/NAME... | KIND NAME...")
@click.option("--replicas", type=click.IntRange(min=0), required=True, help="The new number of replicas.")
@click.option("--current-replicas", type=click.IntRange(min=0), default=None,
              help="Precondition: scale only if the current number of replicas is this.")
@connection_options
def scale_command(conn: Connection, args: tuple[str, ...], replicas: int, current_replicas: int | None) -> None:
    """Set the number of replicas of a Deployment or ReplicaSet."""
    if run(lambda: _scale(conn, args, replicas, current_replicas)):
        fail("")
