"""The local image store: container root filesystems imported from directories or tarballs.

There is no registry client: an image is imported once
(``orchestra image import NAME DIR|TARBALL``) and stored as::

    <store>/<quoted name>/rootfs/      the root filesystem
    <store>/<quoted name>/image.json   name, entrypoint, cmd, env, working dir

A tarball is either a root filesystem archive (``tar -C rootfs -c .``) or a
``docker save`` archive (``manifest.json`` plus layer tarballs, applied in order
with their whiteouts). Names are normalised as Docker does for Docker Hub
(``busybox`` = ``busybox:latest`` = ``docker.io/library/busybox:latest``).

When the ``busybox`` image is asked for and missing, :meth:`ImageStore.ensure_busybox`
assembles it from the host's static busybox (Debian's ``busybox-static``): a
root filesystem with ``/bin/busybox`` and a symlink per applet.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import struct
import subprocess
import tarfile
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

import attrs

__all__ = [
    "Image",
    "ImageStore",
    "ImageNotFoundError",
    "ImageImportError",
    "normalize_image_name",
    "default_image_store_path",
    "busybox_binary",
    "is_static_elf",
    "BUSYBOX_IMAGE",
    "DEFAULT_PATH",
]

#: The image assembled from the host's busybox-static.
BUSYBOX_IMAGE = "busybox:latest"
#: ``PATH`` for containers whose image does not set one.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: Where the static busybox is looked for, in order.
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox", "/usr/lib/busybox/busybox-static")


class ImageNotFoundError(LookupError):
    """The image is not in the store; the message says how to import it."""


class ImageImportError(ValueError):
    """An image source could not be imported; the message names the source and the problem."""


def normalize_image_name(name: str) -> str:
    """Docker's normal form for Docker Hub names: a tag (``:latest``) and no ``docker.io/library/``."""
    name = name.strip()
    if not name:
        raise ImageImportError("an image name must not be empty")
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/library/"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    last = name.rsplit("/", 1)[-1]
    if "@" not in last and ":" not in last:
        name += ":latest"
    return name


def default_image_store_path() -> str:
    """``$ORCHESTRA_IMAGE_DIR``, else ``/var/lib/orchestra/images`` as root, else under ``~/.local/share``."""
    if os.environ.get("ORCHESTRA_IMAGE_DIR"):
        return os.environ["ORCHESTRA_IMAGE_DIR"]
    if os.geteuid() == 0:
        return "/var/lib/orchestra/images"
    return os.path.expanduser("~/.local/share/orchestra/images")


def is_static_elf(path: str) -> bool:
    """Whether ``path`` is an ELF executable with no program interpreter (statically linked)."""
    try:
        with open(path, "rb") as f:
            header = f.read(64)
            if header[:4] != b"\x7fELF" or header[4] != 2:  # 64-bit only
                return False
            order = "<" if header[5] == 1 else ">"
            phoff, = struct.unpack_from(order + "Q", header, 32)
            phentsize, phnum = struct.unpack_from(order + "HH", header, 54)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
    except OSError:
        return False
    pt_interp = 3
    return all(struct.unpack_from(order + "I", table, i * phentsize)[0] != pt_interp for i in range(phnum))


def busybox_binary() -> str | None:
    """The host's statically linked busybox, or ``None``."""
    for candidate in BUSYBOX_CANDIDATES:
        if os.path.isfile(candidate) and is_static_elf(candidate):
            return candidate
    return None


@attrs.frozen
class Image:
    """An image in the store: its root filesystem and the defaults its config gives."""

    name: str
    rootfs: str
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    working_dir: str = ""
    created: str = ""

    def to_json(self) -> dict[str, Any]:
        """The ``image.json`` document (without the rootfs path)."""
        return {
            "name": self.name,
            "entrypoint": list(self.entrypoint),
            "cmd": list(self.cmd),
            "env": list(self.env),
            "workingDir": self.working_dir,
            "created": self.created,
        }


@attrs.define
class ImageStore:
    """Images under ``root``, one directory each."""

    root: str = attrs.field(factory=default_image_store_path)

    def _dir(self, name: str) -> Path:
        return Path(self.root) / urllib.parse.quote(normalize_image_name(name), safe="")

    def get(self, name: str) -> Image:
        """The image called ``name``; raises :class:`ImageNotFoundError`."""
        directory = self._dir(name)
        meta_path = directory / "image.json"
        if not meta_path.is_file():
            raise ImageNotFoundError(
                f"image {normalize_image_name(name)!r} is not in the local image store {self.root} "
                f"(import it with: orchestra image import {name} DIR|TARBALL)"
            )
        meta = json.loads(meta_path.read_text())
        return Image(
            name=meta["name"],
            rootfs=str(directory / "rootfs"),
            entrypoint=tuple(meta.get("entrypoint") or ()),
            cmd=tuple(meta.get("cmd") or ()),
            env=tuple(meta.get("env") or ()),
            working_dir=meta.get("workingDir") or "",
            created=meta.get("created", ""),
        )

    def list(self) -> list[Image]:
        """Every image in the store, by name."""
        if not os.path.isdir(self.root):
            return []
        names = [urllib.parse.unquote(entry) for entry in os.listdir(self.root) if not entry.startswith(".")]
        images = []
        for name in sorted(names):
            try:
                images.append(self.get(name))
            except (ImageNotFoundError, ImageImportError):
                continue
        return images

    def remove(self, name: str) -> bool:
        """Delete an image; ``False`` when there was none."""
        directory = self._dir(name)
        if not directory.exists():
            return False
        shutil.rmtree(directory)
        return True

    def import_image(
        self,
        name: str,
        source: str,
        *,
        entrypoint: tuple[str, ...] = (),
        cmd: tuple[str, ...] = (),
        env: tuple[str, ...] = (),
        working_dir: str = "",
    ) -> Image:
        """Import a root filesystem directory or tarball as ``name`` (replacing one of that name)."""
        name = normalize_image_name(name)
        if not os.path.exists(source):
            raise ImageImportError(f"image source {source!r} does not exist")
        Path(self.root).mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".import-", dir=self.root))
        try:
            rootfs = staging / "rootfs"
            config: dict[str, Any] = {}
            if os.path.isdir(source):
                shutil.copytree(source, rootfs, symlinks=True)
            elif tarfile.is_tarfile(source):
                config = _extract_tarball(source, rootfs)
            else:
                raise ImageImportError(f"image source {source!r} is neither a directory nor a tar archive")
            image = Image(
                name=name,
                rootfs=str(self._dir(name) / "rootfs"),
                entrypoint=tuple(entrypoint or config.get("Entrypoint") or ()),
                cmd=tuple(cmd or config.get("Cmd") or ()),
                env=tuple(env or config.get("Env") or ()),
                working_dir=working_dir or config.get("WorkingDir") or "",
                created=dt.datetime.now(dt.timezone.utc).isoformat(),
            )
            (staging / "image.json").write_text(json.dumps(image.to_json(), indent=2))
            target = self._dir(name)
            if target.exists():
                shutil.rmtree(target)
            os.rename(staging, target)
            return image
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def ensure_busybox(self) -> Image:
        """The ``busybox`` image, assembled from the host's static busybox if it is not there yet."""
        try:
            return self.get(BUSYBOX_IMAGE)
        except ImageNotFoundError:
            pass
        binary = busybox_binary()
        if binary is None:
            raise ImageNotFoundError(
                f"image {BUSYBOX_IMAGE!r} is not in the local image store {self.root} and no static busybox "
                "was found to build it from (apt-get install busybox-static)"
            )
        with tempfile.TemporaryDirectory(prefix="busybox-rootfs-") as tmp:
            build_busybox_rootfs(binary, tmp)
            return self.import_image(BUSYBOX_IMAGE, tmp, cmd=("sh",), env=(f"PATH={DEFAULT_PATH}",))

    def resolve(self, name: str) -> Image:
        """:meth:`get`, building the busybox image on first use."""
        if normalize_image_name(name) == BUSYBOX_IMAGE:
            return self.ensure_busybox()
        return self.get(name)


def build_busybox_rootfs(binary: str, rootfs: str) -> None:
    """A minimal root filesystem in ``rootfs``: busybox, its applet links, and the usual directories."""
    root = Path(rootfs)
    for directory in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "proc", "sys", "dev", "var/www", "run"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    (root / "tmp").mkdir(mode=0o1777, exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    shutil.copy2(binary, root / "bin" / "busybox")
    listing = subprocess.run([binary, "--list-full"], capture_output=True, text=True, check=True).stdout
    for applet in listing.split():
        link = root / applet
        if applet == "bin/busybox" or link.exists() or link.is_symlink():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink("/bin/busybox", link)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    (root / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")


def _extract_tarball(source: str, rootfs: Path) -> dict[str, Any]:
    """Extract a rootfs or ``docker save`` tarball into ``rootfs``; return the image config (may be empty)."""
    rootfs.mkdir()
    with tarfile.open(source) as archive:
        names = set(archive.getnames())
        if "manifest.json" not in names:
            archive.extractall(rootfs, filter="tar")
            return {}
        manifest = json.load(archive.extractfile("manifest.json"))
        if not manifest or "Layers" not in manifest[0]:
            raise ImageImportError(f"{source}: manifest.json names no layers")
        entry = manifest[0]
        for layer in entry["Layers"]:
            with tarfile.open(fileobj=archive.extractfile(layer)) as layer_archive:
                _apply_layer(layer_archive, rootfs)
        config = json.load(archive.extractfile(entry["Config"])) if entry.get("Config") else {}
        return config.get("config") or {}


def _apply_layer(layer: tarfile.TarFile, rootfs: Path) -> None:
    """Apply one image layer: whiteouts (``.wh.`` files) delete, other entries are extracted."""
    members = []
    for member in layer.getmembers():
        path = Path(member.name)
        if path.name == ".wh..wh..opq":
            target = rootfs / path.parent
            if target.is_dir():
                for child in target.iterdir():
                    shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        elif path.name.startswith(".wh."):
            target = rootfs / path.parent / path.name[4:]
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
        else:
            members.append(member)
    layer.extractall(rootfs, members=members, filter="tar")
