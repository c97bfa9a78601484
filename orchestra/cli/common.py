"""What the cluster commands (apply, get, describe, delete, scale) share.

- the connection options ``--kubeconfig``, ``--context``, ``-n/--namespace`` (and
  ``-A/--all-namespaces`` where it makes sense) and the :class:`Connection` they build;
- :func:`run`, which runs a command's coroutine and turns every expected failure into one
  kubectl-like line on stderr and exit status 1 — never a traceback;
- the printers: aligned columns (rich on a terminal, plain text when piped), YAML/JSON dumps
  and the ``deployment.apps/web`` names kubectl prints.

The kubeconfig is ``--kubeconfig``, else ``$KUBECONFIG`` (its first entry), else the
``kubeconfig`` of the default data directory of ``orchestra apiserver`` when it exists, else
``~/.kube/config``.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, Sequence

import attrs
import click
import orjson
import yaml

from orchestra.api.codec import Document, dumps_yaml, load_documents
from orchestra.api.errors import DecodeError
from orchestra.api.registry import ResourceType
from orchestra.cli.apiserver import default_data_dir
from orchestra.cli.validate import read_manifest as read_manifest_source
from orchestra.cli.validate import manifest_files
from orchestra.client import ApiStatusError, Client, KubeConfigError, TransportError, UnknownKindError, resolve_kind

__all__ = [
    "Connection",
    "CommandError",
    "connection_options",
    "all_namespaces_option",
    "kubeconfig_path",
    "run",
    "error_line",
    "fail",
    "resource_label",
    "resolve",
    "parse_targets",
    "Target",
    "format_columns",
    "print_table",
    "dump_objects",
    "filename_options",
    "load_manifests",
    "document_label",
    "EXPECTED_ERRORS",
]


class CommandError(Exception):
    """A failure worth one line to the user (the message is printed as ``error: <message>``)."""


def kubeconfig_path(explicit: str | None = None) -> str:
    """The kubeconfig to use: explicit, ``$KUBECONFIG``, the data directory's, or ``~/.kube/config``."""
    if explicit:
        return explicit
    env = os.environ.get("KUBECONFIG")
    if env:
        return env.split(os.pathsep)[0]
    served = Path(default_data_dir()) / "kubeconfig"
    if served.is_file():
        return str(served)
    return str(Path.home() / ".kube" / "config")


def _context_namespace(path: str, context: str | None) -> str | None:
    """The ``namespace`` of the chosen context, when the kubeconfig sets one."""
    try:
        config = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        return None  # loading the credentials reports the problem with the file
    if not isinstance(config, dict):
        return None
    name = context or config.get("current-context")
    for entry in config.get("contexts") or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            namespace = (entry.get("context") or {}).get("namespace")
            return namespace if isinstance(namespace, str) and namespace else None
    return None


@attrs.frozen
class Connection:
    """Where a command connects and which namespace it works in."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace_option: str | None = None
    all_namespaces: bool = False

    @property
    def path(self) -> str:
        """The kubeconfig file this connection reads."""
        return kubeconfig_path(self.kubeconfig)

    @functools.cached_property
    def namespace(self) -> str:
        """``-n``, else the context's namespace, else ``default``."""
        return self.namespace_option or _context_namespace(self.path, self.context) or "default"

    def namespace_for(self, rtype: ResourceType) -> str | None:
        """The namespace to address ``rtype`` in: None for cluster-scoped kinds and with ``-A``."""
        if not rtype.namespaced or self.all_namespaces:
            return None
        return self.namespace

    def client(self) -> Client:
        """A client for the kubeconfig's current (or chosen) context."""
        return Client.from_kubeconfig(self.path, context=self.context)


def connection_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--kubeconfig``, ``--context`` and ``-n`` and pass them as ``conn`` (a :class:`Connection`)."""

    @click.option("--kubeconfig", default=None, metavar="PATH",
                  help="Kubeconfig file (default: $KUBECONFIG, the apiserver data dir's, ~/.kube/config).")
    @click.option("--context", default=None, help="Kubeconfig context to use (default: current-context).")
    @click.option("-n", "--namespace", default=None, help="Namespace (default: the context's, else default).")
    @functools.wraps(func)
    def wrapper(*args: Any, kubeconfig: str | None, context: str | None, namespace: str | None,
                all_namespaces: bool = False, **kwargs: Any) -> Any:
        conn = Connection(kubeconfig, context, namespace, all_namespaces)
        return func(*args, conn=conn, **kwargs)

    return wrapper


def all_namespaces_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``-A/--all-namespaces`` (put it above :func:`connection_options`)."""
    return click.option("-A", "--all-namespaces", "all_namespaces", is_flag=True,
                        help="Across all namespaces.")(func)


# --------------------------------------------------------------------------- errors


def error_line(exc: BaseException) -> str:
    """The one line a user sees for an expected failure."""
    if isinstance(exc, ApiStatusError):
        return f"Error from server ({exc.reason or exc.code}): {exc.message}"
    return f"error: {exc}"


def fail(message: str) -> None:
    """Print ``message`` on stderr (unless empty) and exit with status 1."""
    if message:
        click.echo(message, err=True)
    raise click.exceptions.Exit(1)


EXPECTED_ERRORS = (ApiStatusError, TransportError, KubeConfigError, UnknownKindError, CommandError)


def run(coro_fn: Callable[[], Awaitable[Any]]) -> Any:
    """Run a command's coroutine; an expected failure prints one line and exits with status 1."""
    try:
        return asyncio.run(coro_fn())
    except EXPECTED_ERRORS as exc:
        fail(error_line(exc))
    except KeyboardInterrupt:
        raise click.exceptions.Exit(130) from None


# --------------------------------------------------------------------------- names and targets


def resource_label(rtype: ResourceType) -> str:
    """``pod``, ``deployment.apps``: the lower-case kind with its group, as kubectl prints it."""
    kind = rtype.kind.lower()
    return f"{kind}.{rtype.group}" if rtype.group else kind


def resolve(kind: str) -> ResourceType:
    """The resource type a kubectl-style name means; ``error: the server doesn't have…`` otherwise."""
    try:
        return resolve_kind(kind)
    except UnknownKindError:
        raise UnknownKindError(f'the server doesn\'t have a resource type "{kind}"') from None


@attrs.frozen
class Target:
    """One resource type and the names asked for (none: all of them)."""

    rtype: ResourceType
    names: tuple[str, ...] = ()


def parse_targets(args: Sequence[str]) -> list[Target]:
    """``KIND[,KIND…] [NAME…]`` or ``KIND/NAME…`` → targets, in order, one per kind."""
    if not args:
        raise click.UsageError("you must specify the type of resource (e.g. pods, deployments.apps)")
    if "/" in args[0]:
        grouped: dict[ResourceType, list[str]] = {}
        for arg in args:
            kind, sep, name = arg.partition("/")
            if not sep or not kind or not name or "/" in name:
                raise click.UsageError(f"there is no need to specify a resource type as a separate argument "
                                       f"when passing arguments in resource/name form: {arg!r}")
            grouped.setdefault(resolve(kind), []).append(name)
        return [Target(rt, tuple(names)) for rt, names in grouped.items()]
    kinds = [k for k in args[0].split(",") if k]
    if not kinds:
        raise click.UsageError(f"no resource type in {args[0]!r}")
    for name in args[1:]:
        if "/" in name:
            raise click.UsageError(f"arguments in resource/name form must have a single resource and name: {name!r}")
    return [Target(resolve(kind), tuple(args[1:])) for kind in kinds]


# --------------------------------------------------------------------------- printing


def _cell(value: Any) -> str:
    if value is None:
        return "<none>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    return str(value)


def format_columns(headers: Sequence[str], rows: Iterable[Sequence[Any]], *,
                   widths: list[int] | None = None) -> list[str]:
    """Aligned lines (header first when ``headers`` is non-empty), three spaces between columns.

    ``widths`` (one per column) is read and widened in place, so a caller printing rows in
    several batches — a watch — keeps them aligned.
    """
    table = [list(headers)] if headers else []
    table.extend([_cell(v) for v in row] for row in rows)
    if not table:
        return []
    count = max(len(r) for r in table)
    if widths is None:
        widths = []
    widths.extend([0] * (count - len(widths)))
    for row in table:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in table:
        padded = [cell.ljust(widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row)]
        lines.append("   ".join(padded).rstrip())
    return lines


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print aligned columns, kubectl-like: on a terminal through rich with a bold header, plain
    text when piped. Cells are never cropped to the terminal's width."""
    lines = format_columns(headers, rows)
    if not sys.stdout.isatty():
        for line in lines:
            click.echo(line)
        return
    from rich.console import Console
    from rich.text import Text

    console = Console(soft_wrap=True, highlight=False)
    for i, line in enumerate(lines):
        console.print(Text(line, style="bold" if i == 0 and headers else ""))


def _with_kind(obj: dict, rtype: ResourceType) -> dict:
    return {"apiVersion": rtype.api_version, "kind": rtype.kind, **obj}


def dump_objects(objects: list[tuple[ResourceType, dict]], output: str, *, as_list: bool) -> str:
    """``-o yaml|json`` text: one object, or a ``v1`` ``List`` of them when ``as_list``."""
    items = [_with_kind(obj, rt) for rt, obj in objects]
    data: Any = items[0] if not as_list and len(items) == 1 else {
        "apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}
    if output == "json":
        return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n"
    return dumps_yaml(data)


# --------------------------------------------------------------------------- manifests


def filename_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``-f/--filename`` (repeatable) and ``-R/--recursive``."""
    func = click.option("-R", "--recursive", is_flag=True, help="Descend into subdirectories of a DIR.")(func)
    return click.option("-f", "--filename", "filenames", multiple=True, metavar="FILE|DIR|-",
                        help="Manifest file, directory of manifests, or - for stdin (repeatable).")(func)


def load_manifests(paths: Sequence[str], recursive: bool) -> list[Document]:
    """Every object of the named files, in order; a file that does not parse raises :class:`CommandError`."""
    documents: list[Document] = []
    for path in paths:
        files = ["-"] if path == "-" else [str(f) for f in manifest_files(path, recursive)]
        if not files:
            raise CommandError(f"no manifests (.yaml, .yml, .json) in {path}")
        for file in files:
            source, text = read_manifest_source(file)
            try:
                documents.extend(load_documents(text, source=source))
            except DecodeError as exc:
                raise CommandError(str(exc)) from None
    return documents


def document_label(doc: Document) -> str:
    """``deploy.yaml:14``: the file and line where an object starts, for error lines."""
    return f"{doc.source}:{doc.line}"
