"""``orchestra image``: the local image store the oci runtime takes root filesystems from."""

from __future__ import annotations

import click

from orchestra.node.images import ImageImportError, ImageNotFoundError, ImageStore, default_image_store_path

__all__ = ["image_command"]

_store_option = click.option(
    "--store",
    "store_path",
    default=default_image_store_path,
    show_default="$ORCHESTRA_IMAGE_DIR, /var/lib/orchestra/images as root, else ~/.local/share/orchestra/images",
    type=click.Path(file_okay=False),
    help="The image store directory.",
)


@click.group("image")
def image_command() -> None:
    """Manage the local container images (there is no registry: import root filesystems)."""


@image_command.command("import")
@click.argument("name")
@click.argument("source", type=click.Path(exists=True))
@_store_option
@click.option("--entrypoint", multiple=True, help="The image's entrypoint, one word per option.")
@click.option("--cmd", "cmd", multiple=True, help="The image's default arguments, one word per option.")
@click.option("--env", multiple=True, metavar="KEY=VALUE", help="An environment variable of the image (repeatable).")
@click.option("--workdir", default="", help="The image's working directory.")
def import_command(
    name: str,
    source: str,
    store_path: str,
    entrypoint: tuple[str, ...],
    cmd: tuple[str, ...],
    env: tuple[str, ...],
    workdir: str,
) -> None:
    """Import SOURCE (a root filesystem directory, a rootfs tarball or a `docker save` tarball) as NAME."""
    for item in env:
        if "=" not in item:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--env")
    try:
        image = ImageStore(store_path).import_image(
            name, source, entrypoint=entrypoint, cmd=cmd, env=env, working_dir=workdir
        )
    except (ImageImportError, OSError) as exc:
        raise click.ClickException(f"cannot import {source}: {exc}") from None
    click.echo(f"imported {image.name}")


@image_command.command("list")
@_store_option
def list_command(store_path: str) -> None:
    """List the images in the store."""
    images = ImageStore(store_path).list()
    width = max([len("NAME")] + [len(image.name) for image in images])
    click.echo(f"{'NAME':<{width}}  CREATED")
    for image in images:
        click.echo(f"{image.name:<{width}}  {image.created}")


@image_command.command("remove")
@click.argument("name")
@_store_option
def remove_command(name: str, store_path: str) -> None:
    """Remove the image NAME from the store."""
    if not ImageStore(store_path).remove(name):
        raise click.ClickException(f"no image {name!r} in {store_path}")
    click.echo(f"removed {name}")


@image_command.command("busybox")
@_store_option
def busybox_command(store_path: str) -> None:
    """Build the busybox image from the host's busybox-static (if it is not there yet)."""
    try:
        image = ImageStore(store_path).ensure_busybox()
    except ImageNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{image.name} is ready")
