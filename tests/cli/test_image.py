"""``orchestra image``: import, list, remove and busybox, against a temporary store."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra.cli.main import main
from orchestra.node.images import ImageStore, busybox_binary


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_import_list_remove(tmp_path: Path, capsys) -> None:
    source = tmp_path / "rootfs"
    (source / "bin").mkdir(parents=True)
    (source / "bin" / "app").write_text("binary")
    store = str(tmp_path / "store")
    assert run(capsys, "image", "import", "web:1", str(source), "--store", store, "--cmd", "app", "--env", "A=1") == (
        0, "imported web:1\n", ""
    )
    image = ImageStore(store).get("web:1")
    assert (image.cmd, image.env) == (("app",), ("A=1",))
    code, out, _ = run(capsys, "image", "list", "--store", store)
    assert code == 0 and out.splitlines()[1].startswith("web:1 ")
    assert run(capsys, "image", "remove", "web:1", "--store", store)[:2] == (0, "removed web:1\n")
    code, _, err = run(capsys, "image", "remove", "web:1", "--store", store)
    assert code == 1 and "no image 'web:1'" in err


def test_bad_env_and_bad_source_are_one_line_errors(tmp_path: Path, capsys) -> None:
    (tmp_path / "notes.txt").write_text("not an archive")
    code, _, err = run(capsys, "image", "import", "x", str(tmp_path / "notes.txt"), "--store", str(tmp_path / "s"))
    assert code == 1 and "neither a directory nor a tar archive" in err
    store = str(tmp_path / "s")
    code, _, err = run(capsys, "image", "import", "x", str(tmp_path), "--store", store, "--env", "NOEQUALS")
    assert code == 2 and "expected KEY=VALUE" in err
    assert "Traceback" not in err


@pytest.mark.skipif(busybox_binary() is None, reason="no static busybox installed (apt-get install busybox-static)")
def test_busybox(tmp_path: Path, capsys) -> None:
    code, out, _ = run(capsys, "image", "busybox", "--store", str(tmp_path))
    assert (code, out) == (0, "busybox:latest is ready\n")
