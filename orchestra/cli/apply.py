"""``orchestra apply -f FILE|DIR|- [-R]``: client-side apply, as ``kubectl apply`` does it.

Each object is created with the last-applied annotation when absent, else patched with the
three-way strategic merge patch of :mod:`orchestra.client.apply`; one line per object says
``deployment.apps/web created|configured|unchanged``. A failing object prints one error line
naming its file and line, the others are still applied, and the exit status is 1.
"""

from __future__ import annotations

import click

from orchestra.cli.common import (
    EXPECTED_ERRORS,
    CommandError,
    Connection,
    connection_options,
    document_label,
    error_line,
    fail,
    filename_options,
    load_manifests,
    resource_label,
    run,
)
from orchestra.client.apply import apply_object

__all__ = ["apply_command"]


async def _apply_all(conn: Connection, filenames: tuple[str, ...], recursive: bool, dry_run: bool) -> int:
    documents = load_manifests(filenames, recursive)
    if not documents:
        raise CommandError("no objects passed to apply")
    failures = 0
    suffix = " (server dry run)" if dry_run else ""
    async with conn.client() as client:
        for doc in documents:
            try:
                result = await apply_object(client, doc.data, namespace=conn.namespace_option, dry_run=dry_run)
            except (ValueError, *EXPECTED_ERRORS) as exc:
                failures += 1
                line = error_line(exc) if not isinstance(exc, ValueError) else f"error: {exc}"
                click.echo(f"{line} (applying {document_label(doc)})", err=True)
                continue
            if result.warning:
                click.echo(f"Warning: {result.warning}", err=True)
            name = result.object.get("metadata", {}).get("name") or doc.data["metadata"]["name"]
            click.echo(f"{resource_label(result.rtype)}/{name} {result.action}{suffix}")
    return failures


@click.command("apply")
@filename_options
@click.option("--dry-run", "dry_run", type=click.Choice(["none", "server"]), default="none", show_default=True,
              help="server: let the server check the change without persisting it.")
@connection_options
def apply_command(conn: Connection, filenames: tuple[str, ...], recursive: bool, dry_run: str) -> None:
    """Create or update objects from manifests (client-side apply, like kubectl apply).

    Fields removed from a manifest since the last apply are removed from the object;
    fields the server or other clients set are kept.
    """
    if not filenames:
        raise click.UsageError("must specify -f FILE|DIR|-")
    if run(lambda: _apply_all(conn, filenames, recursive, dry_run == "server")):
        fail("")
