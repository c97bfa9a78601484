"""The distribution as `pip install .` builds it: plugins under orchestra.plugins, kernels under orchestra._ext."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("orchestra-*.whl")
    return built


@pytest.fixture(scope="module")
def wheel_names(wheel) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        return zf.namelist()


def test_plugins_install_as_orchestra_plugins(wheel_names):
    assert "orchestra/plugins/__init__.py" in wheel_names
    assert "orchestra/plugins/stores/memory.py" in wheel_names
    assert not any(name.startswith(("plugins/", "ext/")) for name in wheel_names)


def test_kernels_are_compiled_with_stubs(wheel_names):
    for kernel in (p.stem for p in (ROOT / "ext").glob("*.pyx")):
        assert any(n.startswith(f"orchestra/_ext/{kernel}.") and n.endswith(".so") for n in wheel_names), kernel
        assert f"orchestra/_ext/{kernel}.pyi" in wheel_names


def test_console_script(wheel, wheel_names):
    (entry_points,) = [n for n in wheel_names if n.endswith(".dist-info/entry_points.txt")]
    with zipfile.ZipFile(wheel) as zf:
        text = zf.read(entry_points).decode()
    assert "[console_scripts]" in text and "orchestra = orchestra.cli:main" in text


def test_generated_sources_are_not_tracked():
    tracked = subprocess.run(["git", "ls-files", "ext", "orchestra"], cwd=ROOT, capture_output=True, text=True).stdout
    if not tracked:
        pytest.skip("not a git checkout")
    assert not [f for f in tracked.splitlines() if f.endswith((".c", ".cpp", ".so", ".html"))]
