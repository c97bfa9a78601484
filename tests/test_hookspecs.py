"""Every hook is specified with a contract docstring and documented in docs/plugins.md."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from orchestra import hookspecs

DOCS = Path(__file__).parent.parent / "docs" / "plugins.md"


def hook_functions():
    return [
        fn for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("orchestra_")
    ]


def signature(fn) -> str:
    return f"{fn.__name__}({', '.join(inspect.signature(fn).parameters)})"


def test_there_are_hooks_in_every_family():
    names = {fn.__name__ for fn in hook_functions()}
    for family in ("store", "scheduler", "runtime", "proxy_mode", "configure", "component", "event", "admission"):
        assert any(n.startswith(f"orchestra_{family}") for n in names), family


@pytest.mark.parametrize("fn", hook_functions(), ids=lambda fn: fn.__name__)
def test_hook_has_contract_docstring(fn):
    doc = inspect.getdoc(fn) or ""
    assert ":return:" in doc, f"{fn.__name__} does not state its return rule"
    for param in inspect.signature(fn).parameters:
        assert f":param {param}:" in doc, f"{fn.__name__} does not document {param}"


@pytest.mark.parametrize("fn", hook_functions(), ids=lambda fn: fn.__name__)
def test_hook_documented_in_plugin_guide(fn):
    text = DOCS.read_text()
    heading = f"### `{signature(fn)}`"
    assert heading in text, f"docs/plugins.md lacks a section headed {heading}"


def test_guide_documents_no_removed_hooks():
    documented = {
        line.split("`")[1].split("(")[0] for line in DOCS.read_text().splitlines() if line.startswith("### `orchestra_")
    }
    assert documented == {fn.__name__ for fn in hook_functions()}
