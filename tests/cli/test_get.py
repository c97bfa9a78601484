"""``orchestra get``: server tables, wide columns, YAML/JSON/name output, selectors, errors, watch."""

from __future__ import annotations

import socket
import sys

import orjson
import yaml

from orchestra.apiserver.request import UserInfo
from orchestra.cli.get import TableView, fetch_table, watch_tables
from orchestra.client import Client, resolve_kind

from tests.support.cli_server import deployment


def rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.strip()]


def test_table_with_kubectl_columns(orchestra, create, unique):
    name = unique("tbl")
    create(deployment(name, replicas=3))
    outcome = orchestra("get", "deployments", name)
    assert outcome.code == 0
    header, row = rows(outcome.out)
    assert header == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert row[:4] == [name, "0/3", "0", "0"]
    # plain columns line up under their headers when piped
    lines = outcome.out.splitlines()
    assert lines[0].index("READY") == lines[1].index("0/3")


def test_wide_adds_priority_columns(orchestra, create, unique):
    name = unique("wide")
    create(deployment(name))
    header, row = rows(orchestra("get", "deploy", name, "-o", "wide").out)
    assert header[-3:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    assert row[-3:] == ["web", "nginx:1.25", f"app={name}"]


def test_kind_slash_name_and_several_kinds(orchestra, create, unique):
    name = unique("multi")
    create(deployment(name))
    create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"},
            "data": {"a": "1"}})
    outcome = orchestra("get", f"deploy/{name}", f"cm/{name}")
    blocks = outcome.out.split("\n\n")
    assert len(blocks) == 2
    assert rows(blocks[0])[1][0] == f"deployment.apps/{name}"
    assert rows(blocks[1])[1][0] == f"configmap/{name}"
    by_list = orchestra("get", "deploy,cm", "-l", f"app={name}")
    assert [r[0] for r in rows(by_list.out) if r[0] != "NAME"] == [f"deployment.apps/{name}"]


def test_label_and_field_selectors(orchestra, create, unique):
    a, b = unique("sel"), unique("sel")
    create(deployment(a, labels={"tier": "front", "app": a}))
    create(deployment(b, labels={"tier": "back", "app": b}))
    names = [r[0] for r in rows(orchestra("get", "deploy", "-l", "tier=front").out)[1:]]
    assert a in names and b not in names
    names = [r[0] for r in rows(orchestra("get", "deploy", "--field-selector", f"metadata.name={b}").out)[1:]]
    assert names == [b]


def test_all_namespaces_adds_the_namespace_column(orchestra, create, unique):
    name = unique("allns")
    create(deployment(name, namespace="kube-public"))
    outcome = orchestra("get", "deploy", "-A", "--field-selector", f"metadata.name={name}")
    header, row = rows(outcome.out)
    assert header[:2] == ["NAMESPACE", "NAME"]
    assert row[:2] == ["kube-public", name]
    assert orchestra("get", "deploy", name).code == 1  # not in default
    assert orchestra("get", "deploy", name, "-n", "kube-public").code == 0


def test_yaml_json_and_name_output(orchestra, create, unique):
    name = unique("out")
    create(deployment(name))
    single = yaml.safe_load(orchestra("get", "deploy", name, "-o", "yaml").out)
    assert (single["kind"], single["apiVersion"], single["metadata"]["name"]) == ("Deployment", "apps/v1", name)
    listed = orjson.loads(orchestra("get", "deploy", "-l", f"app={name}", "-o", "json").out)
    assert listed["kind"] == "List"
    assert [(i["kind"], i["metadata"]["name"]) for i in listed["items"]] == [("Deployment", name)]
    assert orchestra("get", "deploy", "-l", f"app={name}", "-o", "name").out == f"deployment.apps/{name}\n"


def test_cluster_scoped_kind(orchestra):
    outcome = orchestra("get", "namespaces", "default", "kube-system")
    names = [r[0] for r in rows(outcome.out)[1:]]
    assert names == ["default", "kube-system"]
    assert rows(outcome.out)[0][:2] == ["NAME", "STATUS"]


def test_not_found_is_one_line_and_exit_1(orchestra, create, unique):
    name = unique("found")
    create(deployment(name))
    outcome = orchestra("get", "deploy", name, "missing")
    assert outcome.code == 1
    assert rows(outcome.out)[1][0] == name
    assert outcome.err == 'Error from server (NotFound): deployments.apps "missing" not found\n'


def test_no_resources(orchestra):
    outcome = orchestra("get", "pods", "-l", "nothing=here")
    assert (outcome.code, outcome.out) == (0, "")
    assert outcome.err == "No resources found in default namespace.\n"


def test_unknown_kind(orchestra):
    outcome = orchestra("get", "frobs")
    assert (outcome.code, outcome.err) == (1, 'error: the server doesn\'t have a resource type "frobs"\n')


def test_missing_kubeconfig_names_the_path(orchestra, tmp_path):
    path = tmp_path / "absent"
    outcome = orchestra("get", "pods", "--kubeconfig", str(path), kubeconfig=False)
    assert outcome.code == 1
    assert outcome.err.startswith(f"error: cannot read kubeconfig {path}: ")
    assert "Traceback" not in outcome.err


def test_watch_prints_the_list_then_stops_at_the_timeout(orchestra, create, unique):
    name = unique("w")
    create(deployment(name))
    outcome = orchestra("get", "deploy", name, "-w", "--request-timeout", "1")
    assert outcome.code == 0
    assert [r[0] for r in rows(outcome.out)] == ["NAME", name]


def test_table_view_columns():
    table = {"columnDefinitions": [{"name": "Name", "format": "name", "priority": 0},
                                   {"name": "Extra", "format": "", "priority": 1}],
             "rows": [{"cells": ["a", "x"], "object": {"metadata": {"namespace": "ns"}}}]}
    assert TableView().headers(table) == ["NAME"]
    assert TableView(wide=True).rows(table) == [["a", "x"]]
    view = TableView(namespace_column=True, kind_prefix="pod")
    assert (view.headers(table), view.rows(table)) == (["NAMESPACE", "NAME"], [["ns", "pod/a"]])


async def test_watch_tables_yields_a_row_per_event(cluster, unique):
    rtype = resolve_kind("configmaps")
    name = unique("cm")
    async with Client.from_kubeconfig(str(cluster.kubeconfig)) as client:
        table = await fetch_table(client, rtype, "default")
        version = table["metadata"]["resourceVersion"]
        writer = Client.in_process(cluster.server, UserInfo("admin"))
        obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}}
        cluster.call(lambda server: writer.create(obj, raw=True))
        cluster.call(lambda server: writer.delete("configmaps", name, namespace="default"))
        seen = []
        async for kind, event_table in watch_tables(client, rtype, "default", version,
                                                    field_selector=f"metadata.name={name}"):
            seen.append((kind, TableView().rows(event_table)[0][0]))
            if len(seen) == 2:
                break
    assert seen == [("ADDED", name), ("DELETED", name)]


def test_unreachable_server_is_one_line(orchestra, tmp_path):
    with socket.socket() as sock:  # a port nobody listens on once the socket is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump({
        "current-context": "c", "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
    }))
    outcome = orchestra("get", "pods", "--kubeconfig", str(path), kubeconfig=False)
    assert outcome.code == 1
    assert outcome.err.startswith(f"error: cannot reach the API server at http://127.0.0.1:{port}")
    assert len(outcome.err.strip().splitlines()) == 1


def test_terminal_output_uses_rich_with_the_same_columns(orchestra, create, unique, monkeypatch):
    name = unique("tty")
    create(deployment(name))
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    outcome = orchestra("get", "deploy", name, "-o", "wide")
    assert outcome.code == 0
    for text in ("NAME", "READY", "IMAGES", name, "nginx:1.25"):
        assert text in outcome.out
