"""Building the plugin manager: built-ins, entry points, explicit plugins, blocking, await_maybe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import orchestra
from orchestra.plugin_manager import DEFAULT_PLUGINS, DISABLE_AUTOLOAD_ENV, await_maybe, get_plugin_manager, plugin_hooks


def test_builtins_are_registered_by_name():
    pm = get_plugin_manager(load_entrypoints=False)
    names = [name for name, _ in pm.list_name_plugin()]
    assert names[: len(DEFAULT_PLUGINS)] == list(DEFAULT_PLUGINS)
    for name in DEFAULT_PLUGINS:
        assert pm.get_plugin(name).__name__ == f"orchestra.plugins.{name}"


def test_a_builtin_can_be_blocked():
    pm = get_plugin_manager(block=["stores.sqlite"], load_entrypoints=False)
    assert pm.get_plugin("stores.sqlite") is None
    assert pm.is_blocked("stores.sqlite")
    assert "stores.sqlite" not in [row[0] for row in plugin_hooks(pm)]


def test_explicit_plugins_are_registered_last_and_win_firstresult():
    class Override:
        @orchestra.hookimpl
        def orchestra_runtime_create(self, name, config):
            return ("mine", name)

    pm = get_plugin_manager([Override()], load_entrypoints=False)
    assert pm.hook.orchestra_runtime_create(name="process", config={}) == ("mine", "process")
    assert plugin_hooks(pm)[-1][1:] == ("explicit", ["orchestra_runtime_create"])


def test_configure_is_historic_and_receives_config():
    seen = []

    class Early:
        @orchestra.hookimpl
        def orchestra_configure(self, config):
            seen.append(("early", config))

    pm = get_plugin_manager([Early()], load_entrypoints=False, config={"a": 1})

    class Late:
        @orchestra.hookimpl
        def orchestra_configure(self, config):
            seen.append(("late", config))

    pm.register(Late())
    assert seen == [("early", {"a": 1}), ("late", {"a": 1})]


def test_no_work_at_import_time():
    code = "import sys, orchestra; print('orchestra.plugins.stores.memory' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_plugins_package_is_not_top_level():
    code = "import importlib.util; print(importlib.util.find_spec('plugins'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.strip() == "None"


def test_a_bad_hook_implementation_is_refused_with_its_name():
    class Wrong:
        @orchestra.hookimpl
        def orchestra_store_open(self, url, scheme, unexpected):
            return None

    with pytest.raises(Exception, match="unexpected"):
        get_plugin_manager([Wrong()], load_entrypoints=False)


async def test_await_maybe_passes_values_and_awaits_awaitables():
    async def coro():
        return 7

    assert await await_maybe(3) == 3
    assert await await_maybe(coro()) == 7
    assert await await_maybe(None) is None


# --------------------------------------------------------------------------- entry points

PLUGIN_PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "orchestra-demo-plugin"
version = "1.2.3"

[project.entry-points.orchestra]
demo = "orchestra_demo_plugin"
"""

PLUGIN_MODULE = '''
"""A third-party store plugin: demo:// opens an in-memory store through another scheme."""
import orchestra
from orchestra.store import open_store


@orchestra.hookimpl
def orchestra_store_schemes():
    return ["demo"]


@orchestra.hookimpl
def orchestra_store_open(url, scheme):
    if scheme != "demo":
        return None
    return open_store("memory://")  # a coroutine: exercises await_maybe
'''

USE_PLUGIN = """
import asyncio
from orchestra.store import open_store, store_schemes

async def main():
    store = await open_store("demo://anything")
    await store.put(b"k", b"v")
    print((await store.get(b"k")).value.decode(), sorted(store_schemes()))
    await store.close()

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory) -> Path:
    """Build the demo plugin package and install it into a target directory."""
    root = tmp_path_factory.mktemp("plugin")
    src = root / "src"
    src.mkdir()
    (src / "pyproject.toml").write_text(PLUGIN_PYPROJECT)
    (src / "orchestra_demo_plugin.py").write_text(PLUGIN_MODULE)
    target = root / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(src)],
        check=True,
        capture_output=True,
    )
    return target


def _env(site: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != DISABLE_AUTOLOAD_ENV}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH", "")]))
    env.update(extra)
    return env


def test_entrypoint_plugin_is_found_and_called(installed_plugin):
    out = subprocess.run([sys.executable, "-c", USE_PLUGIN], env=_env(installed_plugin),
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    value, schemes = out.stdout.split(" ", 1)
    assert value == "v"
    assert "'demo'" in schemes and "'memory'" in schemes


def test_orchestra_plugins_lists_the_entrypoint_plugin(installed_plugin):
    out = subprocess.run([sys.executable, "-m", "orchestra", "plugins"], env=_env(installed_plugin),
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    line = next(line for line in out.stdout.splitlines() if line.startswith("demo"))
    assert "entrypoint orchestra-demo-plugin 1.2.3" in line
    assert "orchestra_store_open" in line and "orchestra_store_schemes" in line


def test_autoload_can_be_disabled(installed_plugin):
    out = subprocess.run([sys.executable, "-m", "orchestra", "plugins"],
                         env=_env(installed_plugin, **{DISABLE_AUTOLOAD_ENV: "1"}), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert not any(line.startswith("demo") for line in out.stdout.splitlines())
    assert "stores.memory" in out.stdout
