"""The local image store: names, imports from directories and tarballs, and the busybox image."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from orchestra.node.images import (
    ImageImportError,
    ImageNotFoundError,
    ImageStore,
    busybox_binary,
    is_static_elf,
    normalize_image_name,
)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("busybox", "busybox:latest"),
        ("busybox:1.36", "busybox:1.36"),
        ("docker.io/library/busybox", "busybox:latest"),
        ("docker.io/me/app:2", "me/app:2"),
        ("localhost:5000/app", "localhost:5000/app:latest"),
        ("app@sha256:abc", "app@sha256:abc"),
    ],
)
def test_names_are_normalised(name: str, expected: str) -> None:
    assert normalize_image_name(name) == expected


def make_rootfs(path: Path) -> Path:
    (path / "bin").mkdir(parents=True)
    (path / "bin" / "hello").write_text("#!/bin/sh\necho hi\n")
    os.symlink("/bin/hello", path / "bin" / "link")
    return path


def test_import_a_directory(tmp_path: Path) -> None:
    store = ImageStore(str(tmp_path / "store"))
    image = store.import_image("app", str(make_rootfs(tmp_path / "src")), cmd=("hello",), env=("A=1",))
    again = store.get("docker.io/library/app:latest")
    assert again == image
    assert (again.name, again.cmd, again.env) == ("app:latest", ("hello",), ("A=1",))
    assert os.readlink(Path(again.rootfs) / "bin" / "link") == "/bin/hello"  # symlinks stay symlinks
    assert [i.name for i in store.list()] == ["app:latest"]


def test_import_a_rootfs_tarball(tmp_path: Path) -> None:
    source = make_rootfs(tmp_path / "src")
    tarball = tmp_path / "rootfs.tar"
    with tarfile.open(tarball, "w") as archive:
        archive.add(source, arcname=".")
    image = ImageStore(str(tmp_path / "store")).import_image("app:2", str(tarball))
    assert (Path(image.rootfs) / "bin" / "hello").read_text().endswith("echo hi\n")


def add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def layer(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            add_bytes(archive, name, data)
    return buffer.getvalue()


def test_import_a_docker_save_tarball_applies_layers_and_whiteouts(tmp_path: Path) -> None:
    tarball = tmp_path / "saved.tar"
    config = {"config": {"Entrypoint": ["/bin/app"], "Cmd": ["--serve"], "Env": ["PATH=/bin"], "WorkingDir": "/srv"}}
    with tarfile.open(tarball, "w") as archive:
        add_bytes(archive, "l1/layer.tar", layer({"bin/app": b"v1", "etc/old": b"gone soon"}))
        add_bytes(archive, "l2/layer.tar", layer({"bin/app": b"v2", "etc/.wh.old": b""}))
        add_bytes(archive, "config.json", json.dumps(config).encode())
        manifest = [{"Config": "config.json", "RepoTags": ["app:1"], "Layers": ["l1/layer.tar", "l2/layer.tar"]}]
        add_bytes(archive, "manifest.json", json.dumps(manifest).encode())
    image = ImageStore(str(tmp_path / "store")).import_image("app:1", str(tarball))
    assert (Path(image.rootfs) / "bin" / "app").read_bytes() == b"v2"
    assert not (Path(image.rootfs) / "etc" / "old").exists()
    assert (image.entrypoint, image.cmd) == (("/bin/app",), ("--serve",))
    assert (image.env, image.working_dir) == (("PATH=/bin",), "/srv")


def test_missing_image_says_how_to_import_it(tmp_path: Path) -> None:
    with pytest.raises(ImageNotFoundError, match="orchestra image import nginx"):
        ImageStore(str(tmp_path)).get("nginx")


def test_bad_sources_are_refused(tmp_path: Path) -> None:
    store = ImageStore(str(tmp_path / "store"))
    with pytest.raises(ImageImportError, match="does not exist"):
        store.import_image("app", str(tmp_path / "missing"))
    (tmp_path / "notes.txt").write_text("not an archive")
    with pytest.raises(ImageImportError, match="neither a directory nor a tar archive"):
        store.import_image("app", str(tmp_path / "notes.txt"))


def test_remove(tmp_path: Path) -> None:
    store = ImageStore(str(tmp_path / "store"))
    store.import_image("app", str(make_rootfs(tmp_path / "src")))
    assert store.remove("app") is True
    assert store.remove("app") is False


def test_static_elf_detection(tmp_path: Path) -> None:
    assert not is_static_elf("/bin/sh")  # dynamically linked everywhere we run
    (tmp_path / "text").write_text("hello")
    assert not is_static_elf(str(tmp_path / "text"))


@pytest.mark.skipif(busybox_binary() is None, reason="no static busybox installed (apt-get install busybox-static)")
def test_busybox_image_is_assembled_from_the_host(tmp_path: Path) -> None:
    store = ImageStore(str(tmp_path / "store"))
    image = store.resolve("busybox")
    root = Path(image.rootfs)
    assert (root / "bin" / "busybox").is_file()
    assert os.readlink(root / "bin" / "sh") == "/bin/busybox"
    assert image.cmd == ("sh",)
    assert store.ensure_busybox() == image  # built once
