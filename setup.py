"""Build script: the Cython extensions in ``ext/`` become ``orchestra._ext.*``.

Metadata lives in ``pyproject.toml``; this file only adds what needs code: the
package list (``plugins/`` installs as ``orchestra.plugins`` and ``ext/`` as
``orchestra._ext``) and the extension modules.

Set ``ORCHESTRA_CYTHON_DEBUG=1`` to build with Cython annotation (HTML reports
next to the sources) and line tracing (for coverage and line profilers).
"""

import os
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, find_packages, setup

HERE = Path(__file__).parent
DEBUG = os.environ.get("ORCHESTRA_CYTHON_DEBUG", "") not in ("", "0")


def packages() -> list[str]:
    """Every package of the distribution, with ``plugins`` and ``ext`` mapped under ``orchestra``."""
    found = find_packages(include=["orchestra", "orchestra.*"])
    found += ["orchestra.plugins." + p for p in find_packages("plugins")] + ["orchestra.plugins"]
    found.append("orchestra._ext")
    return sorted(set(found))


def package_dirs() -> dict[str, str]:
    """Map each plugin subpackage to its folder (setuptools needs every mapped package listed)."""
    dirs = {"orchestra": "orchestra", "orchestra.plugins": "plugins", "orchestra._ext": "ext"}
    for p in find_packages("plugins"):
        dirs["orchestra.plugins." + p] = "plugins/" + p.replace(".", "/")
    return dirs


def extensions() -> list[Extension]:
    """One C++ extension per ``ext/*.pyx``."""
    macros = [("CYTHON_TRACE_NOGIL", "1")] if DEBUG else []
    modules = [
        Extension(
            f"orchestra._ext.{pyx.stem}",
            [str(pyx.relative_to(HERE))],
            language="c++",
            extra_compile_args=["-O3", "-std=c++17"],
            define_macros=macros,
        )
        for pyx in sorted((HERE / "ext").glob("*.pyx"))
    ]
    directives = {"language_level": "3", "boundscheck": False, "wraparound": False}
    if DEBUG:
        directives.update(linetrace=True, binding=True)
    return cythonize(modules, compiler_directives=directives, annotate=DEBUG)


setup(packages=packages(), package_dir=package_dirs(), ext_modules=extensions())
