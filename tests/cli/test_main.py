"""The command group: --version, help, and the no-traceback guard."""

from __future__ import annotations

import subprocess
import sys

import orchestra
from orchestra.cli.main import main


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"orchestra {orchestra.__version__}"


def test_console_script_is_installed():
    out = subprocess.run(["orchestra", "--version"], capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stdout.strip() == f"orchestra {orchestra.__version__}"


def test_unknown_command_is_a_usage_error(capsys):
    assert main(["frobnicate"]) == 2
    assert "No such command" in capsys.readouterr().err


def test_unexpected_errors_print_one_line(monkeypatch, capsys):
    import importlib

    main_module = importlib.import_module("orchestra.cli.main")

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(main_module.cli, "main", boom)
    monkeypatch.delenv(main_module.DEBUG_ENV, raising=False)
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "error: RuntimeError: disk on fire" in err
    assert "Traceback" not in err


def test_plugins_command_lists_builtins():
    out = subprocess.run([sys.executable, "-m", "orchestra", "plugins", "--no-entrypoints"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "stores.memory" in out.stdout and "builtin" in out.stdout
    assert "orchestra_store_open" in out.stdout


def test_every_command_imports_and_is_named_as_listed():
    import importlib

    from orchestra.cli.main import COMMANDS, cli

    ctx = cli.make_context("orchestra", ["--version"], resilient_parsing=True)
    for name, target in COMMANDS.items():
        module, attr = target.split(":")
        command = getattr(importlib.import_module(module), attr)
        assert cli.get_command(ctx, name) is command
        assert command.name == name, f"{target} is named {command.name!r}, listed as {name!r}"
