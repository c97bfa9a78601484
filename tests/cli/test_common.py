"""The shared pieces of the cluster commands: kubeconfig choice, namespaces, targets, columns."""

from __future__ import annotations

import click
import pytest
import yaml

from orchestra.cli.common import (
    Connection,
    dump_objects,
    error_line,
    format_columns,
    kubeconfig_path,
    parse_targets,
    resource_label,
)
from orchestra.client import ApiStatusError, UnknownKindError, resolve_kind


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("ORCHESTRA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def test_kubeconfig_precedence(clean_env, monkeypatch):
    home_config = str(clean_env / "home" / ".kube" / "config")
    assert kubeconfig_path() == home_config
    served = clean_env / "data" / "kubeconfig"
    served.parent.mkdir()
    served.write_text("{}")
    assert kubeconfig_path() == str(served)
    monkeypatch.setenv("KUBECONFIG", "/a/first:/b/second")
    assert kubeconfig_path() == "/a/first"
    assert kubeconfig_path("/explicit") == "/explicit"


def test_namespace_from_option_context_or_default(clean_env):
    path = clean_env / "config"
    path.write_text(yaml.safe_dump({
        "current-context": "main",
        "contexts": [{"name": "main", "context": {"cluster": "c", "namespace": "team-a"}},
                     {"name": "other", "context": {"cluster": "c"}}],
    }))
    assert Connection(str(path)).namespace == "team-a"
    assert Connection(str(path), context="other").namespace == "default"
    assert Connection(str(path), namespace_option="x").namespace == "x"
    assert Connection(str(clean_env / "missing")).namespace == "default"
    deploy, nodes = resolve_kind("deploy"), resolve_kind("nodes")
    assert Connection(str(path)).namespace_for(deploy) == "team-a"
    assert Connection(str(path)).namespace_for(nodes) is None
    assert Connection(str(path), all_namespaces=True).namespace_for(deploy) is None


def test_parse_targets():
    [pods, services] = parse_targets(["pods,svc", "a", "b"])
    assert (pods.rtype.plural, pods.names, services.rtype.plural) == ("pods", ("a", "b"), "services")
    [deploys, cms] = parse_targets(["deploy/a", "cm/b", "deployments.apps/c"])
    assert (deploys.rtype.plural, deploys.names, cms.names) == ("deployments", ("a", "c"), ("b",))
    with pytest.raises(click.UsageError):
        parse_targets(["deploy/a", "b"])
    with pytest.raises(click.UsageError):
        parse_targets(["deploy", "x/y"])
    with pytest.raises(UnknownKindError, match='resource type "widgets"'):
        parse_targets(["widgets"])


def test_format_columns_aligns_and_keeps_widths_across_batches():
    widths: list[int] = []
    first = format_columns(["NAME", "AGE"], [["a", "1s"]], widths=widths)
    later = format_columns([], [["much-longer", None]], widths=widths)
    assert first == ["NAME   AGE", "a      1s"]
    assert later == ["much-longer   <none>"]
    assert format_columns([], []) == []


def test_labels_and_errors():
    assert resource_label(resolve_kind("deploy")) == "deployment.apps"
    assert resource_label(resolve_kind("po")) == "pod"
    status = {"reason": "AlreadyExists", "message": 'pods "x" already exists', "code": 409}
    assert error_line(ApiStatusError(409, status)) == 'Error from server (AlreadyExists): pods "x" already exists'


def test_dump_objects_single_and_list():
    rt = resolve_kind("cm")
    one = yaml.safe_load(dump_objects([(rt, {"metadata": {"name": "a"}})], "yaml", as_list=False))
    assert one == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}
    many = yaml.safe_load(dump_objects([(rt, {"metadata": {"name": "a"}})], "json", as_list=True))
    assert many["kind"] == "List" and many["items"][0]["kind"] == "ConfigMap"
