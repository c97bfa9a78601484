"""``orchestra get KIND[,KIND…] [NAME…] | KIND/NAME…``: print objects as kubectl does.

The columns come from the server: the request asks for a ``meta.k8s.io/v1`` Table, and
priority-1 columns show only with ``-o wide``. ``-o yaml|json|name`` print the objects
themselves. ``-w`` prints the table, then one row per watch event (the server converts each
event's object to a Table row).
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Sequence

import attrs
import click
import orjson

from orchestra.api.registry import ResourceType
from orchestra.cli.common import (
    Connection,
    Target,
    all_namespaces_option,
    connection_options,
    dump_objects,
    error_line,
    fail,
    format_columns,
    parse_targets,
    print_table,
    resource_label,
    run,
)
from orchestra.client import ApiStatusError, Client, ResourceExpired, resource_path

__all__ = ["get_command", "TABLE_ACCEPT", "TableView", "fetch_table", "watch_tables"]

TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io"
"""The Accept header asking the server for a meta.k8s.io/v1 Table instead of the objects."""


@attrs.frozen
class TableView:
    """How to print a server Table: which columns, and what to put in front of each row."""

    wide: bool = False
    namespace_column: bool = False
    kind_prefix: str | None = None  # "deployment.apps" when several kinds are printed together

    def headers(self, table: dict) -> list[str]:
        """The column titles, upper-case, NAMESPACE first with ``-A``."""
        names = [c["name"].upper() for c in self._columns(table)]
        return ["NAMESPACE", *names] if self.namespace_column else names

    def rows(self, table: dict) -> list[list[Any]]:
        """The cells of each row, trimmed to the shown columns."""
        indexes = [i for i, c in enumerate(table.get("columnDefinitions") or []) if self._shown(c)]
        formats = [c.get("format") for c in table.get("columnDefinitions") or []]
        out = []
        for row in table.get("rows") or []:
            cells = row.get("cells") or []
            shown = []
            for i in indexes:
                value = cells[i] if i < len(cells) else None
                if self.kind_prefix and formats[i] == "name":
                    value = f"{self.kind_prefix}/{value}"
                shown.append(value)
            if self.namespace_column:
                metadata = (row.get("object") or {}).get("metadata") or {}
                shown.insert(0, metadata.get("namespace", ""))
            out.append(shown)
        return out

    def _shown(self, column: dict) -> bool:
        return self.wide or not column.get("priority")

    def _columns(self, table: dict) -> list[dict]:
        return [c for c in table.get("columnDefinitions") or [] if self._shown(c)]


def _selectors(label_selector: str | None, field_selector: str | None) -> dict[str, Any]:
    return {"labelSelector": label_selector, "fieldSelector": field_selector}


async def fetch_table(client: Client, rtype: ResourceType, namespace: str | None, name: str | None = None, *,
                      label_selector: str | None = None, field_selector: str | None = None) -> dict:
    """The server's Table of one object, or of a list filtered by the selectors."""
    query = None if name else _selectors(label_selector, field_selector)
    return await client.request_json("GET", resource_path(rtype, namespace, name), query=query, accept=TABLE_ACCEPT)


async def watch_tables(client: Client, rtype: ResourceType, namespace: str | None, resource_version: str, *,
                       label_selector: str | None = None, field_selector: str | None = None,
                       timeout_seconds: int | None = None) -> AsyncIterator[tuple[str, dict]]:
    """``(event type, Table)`` for each change after ``resource_version``; bookmarks are skipped."""
    query = {"watch": True, "resourceVersion": resource_version, "timeoutSeconds": timeout_seconds,
             **_selectors(label_selector, field_selector)}
    async with client.transport.stream("GET", resource_path(rtype, namespace), query=query,
                                       headers={"Accept": TABLE_ACCEPT}) as response:
        if response.status >= 400:
            body = await response.read()
            try:
                status = orjson.loads(body)
            except orjson.JSONDecodeError:
                status = {"message": body.decode(errors="replace")[:500]}
            raise ApiStatusError(response.status, status if isinstance(status, dict) else {})
        async for line in response.lines():
            event = orjson.loads(line)
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                code = int(obj.get("code") or 500)
                raise (ResourceExpired if code == 410 else ApiStatusError)(code, obj)
            if kind in ("ADDED", "MODIFIED", "DELETED"):
                yield kind, obj


def _no_resources(conn: Connection, targets: Sequence[Target]) -> str:
    if conn.all_namespaces or not any(t.rtype.namespaced for t in targets):
        return "No resources found"
    return f"No resources found in {conn.namespace} namespace."


@attrs.frozen
class _Options:
    output: str | None
    label_selector: str | None
    field_selector: str | None
    watch: bool
    request_timeout: int | None = None


async def _print_tables(client: Client, conn: Connection, targets: list[Target], opts: _Options) -> int:
    failures = 0
    printed = 0
    several = len(targets) > 1
    for target in targets:
        rtype = target.rtype
        namespace = conn.namespace_for(rtype) if not target.names else (
            conn.namespace if rtype.namespaced else None)
        view = TableView(wide=opts.output == "wide", namespace_column=conn.all_namespaces and rtype.namespaced
                         and not target.names, kind_prefix=resource_label(rtype) if several else None)
        tables = []
        if target.names:
            for name in target.names:
                try:
                    tables.append(await fetch_table(client, rtype, namespace, name))
                except ApiStatusError as exc:
                    failures += 1
                    click.echo(error_line(exc), err=True)
        else:
            tables.append(await fetch_table(client, rtype, namespace, label_selector=opts.label_selector,
                                            field_selector=opts.field_selector))
        rows = [row for table in tables for row in view.rows(table)]
        if not rows:
            continue
        if printed:
            click.echo("")
        print_table(view.headers(tables[0]), rows)
        printed += 1
    if not printed and not failures:
        click.echo(_no_resources(conn, targets), err=True)
    return failures


async def _print_objects(client: Client, conn: Connection, targets: list[Target], opts: _Options) -> int:
    failures = 0
    objects: list[tuple[ResourceType, dict]] = []
    single = len(targets) == 1 and len(targets[0].names) == 1
    for target in targets:
        rtype = target.rtype
        if target.names:
            namespace = conn.namespace if rtype.namespaced else None
            for name in target.names:
                try:
                    objects.append((rtype, await client.get(rtype, name, namespace=namespace, raw=True)))
                except ApiStatusError as exc:
                    failures += 1
                    click.echo(error_line(exc), err=True)
        else:
            listed = await client.list(rtype, namespace=conn.namespace_for(rtype), label_selector=opts.label_selector,
                                       field_selector=opts.field_selector, raw=True)
            objects.extend((rtype, item) for item in listed.items)
    if opts.output == "name":
        for rtype, obj in objects:
            click.echo(f"{resource_label(rtype)}/{obj['metadata']['name']}")
    elif objects or not single:
        click.echo(dump_objects(objects, opts.output or "yaml", as_list=not single), nl=False)
    return failures


async def _watch(client: Client, conn: Connection, target: Target, opts: _Options) -> None:
    rtype = target.rtype
    field_selector = opts.field_selector
    if target.names:
        if len(target.names) > 1:
            raise click.UsageError("watch is only supported on a single object or a list of one kind")
        by_name = f"metadata.name={target.names[0]}"
        field_selector = f"{field_selector},{by_name}" if field_selector else by_name
    namespace = conn.namespace_for(rtype)
    view = TableView(wide=opts.output == "wide", namespace_column=conn.all_namespaces and rtype.namespaced)
    table = await fetch_table(client, rtype, namespace, label_selector=opts.label_selector,
                              field_selector=field_selector)
    widths: list[int] = []
    header_done = bool(table.get("rows"))
    for line in format_columns(view.headers(table) if header_done else [], view.rows(table), widths=widths):
        click.echo(line)
    resource_version = (table.get("metadata") or {}).get("resourceVersion", "")
    async for _, event_table in watch_tables(client, rtype, namespace, resource_version,
                                             label_selector=opts.label_selector, field_selector=field_selector,
                                             timeout_seconds=opts.request_timeout):
        headers = [] if header_done else view.headers(event_table)
        header_done = True
        for line in format_columns(headers, view.rows(event_table), widths=widths):
            click.echo(line)


async def _get(conn: Connection, args: tuple[str, ...], opts: _Options) -> int:
    targets = parse_targets(args)
    async with conn.client() as client:
        if opts.watch:
            if len(targets) > 1:
                raise click.UsageError("you may only specify a single resource type to watch")
            await _watch(client, conn, targets[0], opts)
            return 0
        if opts.output in (None, "wide"):
            return await _print_tables(client, conn, targets, opts)
        return await _print_objects(client, conn, targets, opts)


@click.command("get")
@click.argument("args", nargs=-1, required=True, metavar="KIND[,KIND...] [NAME...] | KIND/NAME...")
@click.option("-o", "--output", type=click.Choice(["wide", "yaml", "json", "name"]), default=None,
              help="Output format (default: the server's table).")
@click.option("-l", "--selector", "label_selector", default=None, help="Label selector, e.g. app=web,tier!=db.")
@click.option("--field-selector", default=None, help="Field selector, e.g. status.phase=Running.")
@click.option("-w", "--watch", is_flag=True, help="After listing, print a row for every change.")
@click.option("--request-timeout", type=click.IntRange(min=1), default=None, metavar="SECONDS",
              help="With --watch: stop watching after this many seconds (default: never).")
@all_namespaces_option
@connection_options
def get_command(conn: Connection, args: tuple[str, ...], output: str | None, label_selector: str | None,
                field_selector: str | None, watch: bool, request_timeout: int | None) -> None:
    """Show objects: a table by default, or YAML, JSON or names."""
    opts = _Options(output, label_selector, field_selector, watch, request_timeout)
    if watch and output not in (None, "wide"):
        raise click.UsageError("--watch prints tables: use it without -o or with -o wide")
    if run(lambda: _get(conn, args, opts)):
        fail("")
