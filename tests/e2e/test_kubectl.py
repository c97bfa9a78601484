"""The real kubectl against a real API server: TLS on loopback, the generated kubeconfig.

Every test checks kubectl's output and, where the command writes, the object as the server
stored it (read through the server's own storage, not through kubectl).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import queue
import re
import threading
from typing import Callable, Iterator

import pytest
import yaml

from orchestra.api.registry import by_kind
from orchestra.apiserver.certs import ensure_pki, kubeconfig, kubeconfig_yaml, write_secret
from orchestra.apiserver.errors import NotFound
from tests.support.cli_server import ThreadedServer, deployment, start_threaded_server
from tests.support.kubectl import Kubectl, find_kubectl, requires_kubectl

pytestmark = [requires_kubectl, pytest.mark.slow]

READ_ONLY_TOKEN = "read-only-token-for-tests"
_names = itertools.count()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> ThreadedServer:
    """A TLS API server on loopback whose token file also has a read-only user."""
    data_dir = tmp_path_factory.mktemp("apiserver")
    pki = ensure_pki(data_dir)
    write_secret(pki.tokens, pki.tokens.read_bytes() + f'{READ_ONLY_TOKEN},viewer,viewer,"viewers"\n'.encode())
    server = start_threaded_server(data_dir)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def kubectl(cluster, tmp_path_factory) -> Kubectl:
    """kubectl with the server's generated admin kubeconfig."""
    return Kubectl(find_kubectl(), cluster.kubeconfig, tmp_path_factory.mktemp("kubectl-home"))


@pytest.fixture(scope="module")
def viewer(cluster, tmp_path_factory) -> Kubectl:
    """kubectl as the read-only user (bearer token only)."""
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    url = admin["clusters"][0]["cluster"]["server"]
    home = tmp_path_factory.mktemp("viewer-home")
    path = home / "kubeconfig"
    path.write_text(kubeconfig_yaml(kubeconfig(url, ca_pem=cluster.server.pki.ca_cert.read_bytes(), token=READ_ONLY_TOKEN)))
    return Kubectl(find_kubectl(), path, home)


@pytest.fixture
def name() -> Callable[[str], str]:
    """A fresh object name per call, so tests sharing the server never collide."""
    return lambda prefix: f"{prefix}-{next(_names)}"


def stored(cluster: ThreadedServer, api_version: str, kind: str, name: str, namespace: str | None = "default") -> dict | None:
    """The object as the server stores it, or None when it does not exist."""
    rtype = by_kind(api_version, kind)

    async def read(server):
        try:
            return await server.storage.storage(rtype).get(namespace if rtype.namespaced else None, name)
        except NotFound:
            return None

    return cluster.call(read)


def manifest(*objects: dict) -> str:
    """A multi-document YAML manifest."""
    return yaml.safe_dump_all(objects, sort_keys=False)


def web_deployment(name: str, *, image: str = "nginx:1.25", replicas: int = 2, env: dict | None = None,
                   ports: tuple[int, ...] = (80, 443)) -> dict:
    """A Deployment with env vars and named ports, for apply tests."""
    obj = deployment(name, replicas=replicas)
    container = obj["spec"]["template"]["spec"]["containers"][0]
    container["image"] = image
    container["env"] = [{"name": k, "value": v} for k, v in (env if env is not None else {"A": "1", "B": "2"}).items()]
    container["ports"] = [{"containerPort": p, "name": f"p{p}"} for p in ports]
    return obj


def container_of(obj: dict) -> dict:
    """The first container of a workload's pod template."""
    return obj["spec"]["template"]["spec"]["containers"][0]


def table_rows(output: str) -> tuple[list[str], dict[str, list[str]]]:
    """kubectl's table output: the header's columns and each row's cells by the row's first cell."""
    lines = [line for line in output.splitlines() if line.strip()]
    header = lines[0].split()
    rows = {cells[0]: cells for cells in (line.split() for line in lines[1:])}
    return header, rows


# ------------------------------------------------------------------ apply


def test_apply_creates_then_configures_and_removes_dropped_fields(cluster, kubectl, name):
    dep = name("web")
    created = kubectl.run("apply", "-f", "-", stdin=manifest(web_deployment(dep)))
    assert created.stdout.strip() == f"deployment.apps/{dep} created"
    first = stored(cluster, "apps/v1", "Deployment", dep)
    assert first["spec"]["replicas"] == 2
    assert [p["containerPort"] for p in container_of(first)["ports"]] == [80, 443]

    changed = web_deployment(dep, image="nginx:1.26", replicas=4, env={"A": "1", "C": "3"}, ports=(80,))
    configured = kubectl.run("apply", "-f", "-", stdin=manifest(changed))
    assert configured.stdout.strip() == f"deployment.apps/{dep} configured"

    after = stored(cluster, "apps/v1", "Deployment", dep)
    container = container_of(after)
    assert after["spec"]["replicas"] == 4
    assert container["image"] == "nginx:1.26"
    assert container["env"] == [{"name": "A", "value": "1"}, {"name": "C", "value": "3"}]
    assert [p["containerPort"] for p in container["ports"]] == [80]
    assert after["metadata"]["generation"] == first["metadata"]["generation"] + 1
    assert int(after["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])

    unchanged = kubectl.run("apply", "-f", "-", stdin=manifest(changed))
    assert unchanged.stdout.strip() == f"deployment.apps/{dep} unchanged"


def test_apply_keeps_fields_orchestra_does_not_model(cluster, kubectl, name):
    cm = name("extra")
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": cm}, "data": {"a": "1"},
           "immutable": False, "binaryData": {"b": "AAE="}}
    assert kubectl.run("apply", "-f", "-", stdin=manifest(obj)).stdout.strip() == f"configmap/{cm} created"
    assert stored(cluster, "v1", "ConfigMap", cm)["binaryData"] == {"b": "AAE="}


def test_delete_f_removes_every_object_of_the_manifest(cluster, kubectl, name):
    cm, svc = name("gone"), name("gone-svc")
    objects = manifest(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": cm}, "data": {"a": "b"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": svc},
         "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]}},
    )
    kubectl.run("apply", "-f", "-", stdin=objects)
    result = kubectl.run("delete", "-f", "-", stdin=objects)
    assert f'configmap "{cm}" deleted' in result.stdout
    assert f'service "{svc}" deleted' in result.stdout
    assert stored(cluster, "v1", "ConfigMap", cm) is None
    assert stored(cluster, "v1", "Service", svc) is None


# ------------------------------------------------------------------ get


def test_get_several_kinds_shows_the_familiar_columns(cluster, kubectl, name):
    pod, dep, svc, job, node = name("pod"), name("dep"), name("svc"), name("job"), name("node")
    kubectl.run("apply", "-f", "-", stdin=manifest(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod},
         "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
        deployment(dep, replicas=3),
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": svc},
         "spec": {"selector": {"app": dep}, "ports": [{"port": 8080, "protocol": "TCP"}]}},
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": job},
         "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}},
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}},
    ))
    out = kubectl.run("get", "pods,deploy,svc,nodes,jobs").stdout
    sections = [s for s in out.split("\n\n") if s.strip()]
    headers = [s.splitlines()[0].split() for s in sections]
    assert ["NAME", "READY", "STATUS", "RESTARTS", "AGE"] in headers
    assert ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"] in headers
    assert ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"] in headers
    assert ["NAME", "STATUS", "ROLES", "AGE", "VERSION"] in headers
    assert ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"] in headers
    assert len(sections) == 5
    _, pods = table_rows(kubectl.run("get", "pods").stdout)
    assert pods[pod][1:4] == ["0/1", "Pending", "0"]
    _, deps = table_rows(kubectl.run("get", "deploy").stdout)
    assert deps[dep][1:4] == ["0/3", "0", "0"]
    _, svcs = table_rows(kubectl.run("get", "svc").stdout)
    assert svcs[svc][1] == "ClusterIP" and svcs[svc][4] == "8080/TCP"
    _, jobs = table_rows(kubectl.run("get", "jobs").stdout)
    assert jobs[job][2] == "0/1"
    _, nodes = table_rows(kubectl.run("get", "nodes").stdout)
    assert node in nodes


def test_get_wide_adds_the_wide_columns(cluster, kubectl, name):
    dep, pod = name("wide"), name("wide-pod")
    kubectl.run("apply", "-f", "-", stdin=manifest(
        web_deployment(dep, image="nginx:1.27"),
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod},
         "spec": {"nodeName": "node-a", "containers": [{"name": "c", "image": "busybox"}]}},
    ))
    header, rows = table_rows(kubectl.run("get", "deploy", dep, "-o", "wide").stdout)
    assert header == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert rows[dep][5:] == ["web", "nginx:1.27", f"app={dep}"]
    header, rows = table_rows(kubectl.run("get", "pod", pod, "-o", "wide").stdout)
    assert header[:8] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED"]
    assert rows[pod][6] == "node-a"


def test_get_json_and_yaml_are_the_stored_object_and_round_trip(cluster, kubectl, name):
    cm = name("rt")
    cluster.call(lambda server: server.storage.storage(by_kind("v1", "ConfigMap")).create(
        "default", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": cm, "labels": {"k": "v"}},
                    "data": {"a": "b"}}, _admin_context()))
    as_json = json.loads(kubectl.run("get", "configmap", cm, "-o", "json").stdout)
    as_yaml = yaml.safe_load(kubectl.run("get", "configmap", cm, "-o", "yaml").stdout)
    assert as_json == as_yaml == stored(cluster, "v1", "ConfigMap", cm)

    as_json["data"]["a"] = "changed"
    assert kubectl.run("replace", "-f", "-", stdin=json.dumps(as_json)).stdout.strip() == f"configmap/{cm} replaced"
    after = stored(cluster, "v1", "ConfigMap", cm)
    assert after["data"] == {"a": "changed"}
    assert after["metadata"]["uid"] == as_json["metadata"]["uid"]

    stale = kubectl.fails("replace", "-f", "-", stdin=json.dumps(as_json))
    assert "the object has been modified" in stale.stderr

    fresh = kubectl.run("get", "configmap", cm, "-o", "yaml").stdout
    assert kubectl.run("replace", "-f", "-", stdin=fresh).stdout.strip() == f"configmap/{cm} replaced"
    assert stored(cluster, "v1", "ConfigMap", cm)["data"] == {"a": "changed"}


def _admin_context():
    from orchestra.apiserver.request import ADMIN, UserInfo
    from orchestra.apiserver.storage import RequestContext

    return RequestContext(user=UserInfo("admin", ADMIN, ("system:masters",)))


@contextlib.contextmanager
def watching(kubectl: Kubectl, *args: str) -> Iterator[Callable[[Callable[[list[str]], bool]], list[str]]]:
    """Run the ``kubectl ... -w`` command ``args`` in the background; yields ``next_row(wanted)``,
    which waits for the next output row whose cells ``wanted`` accepts and returns its cells."""
    watcher = kubectl.popen(*args)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in watcher.stdout], daemon=True)
    reader.start()

    def next_row(wanted: Callable[[list[str]], bool]) -> list[str]:
        while True:
            cells = lines.get(timeout=30).split()
            if wanted(cells):
                return cells

    try:
        yield next_row
    finally:
        watcher.terminate()
        watcher.wait(30)
        reader.join(30)


def test_get_watch_prints_a_row_for_a_new_object(cluster, kubectl, name):
    first, second = name("w"), name("w")
    kubectl.run("apply", "-f", "-", stdin=manifest({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": first}}))
    kubectl.run("apply", "-n", first, "-f", "-", stdin=manifest(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": first}, "data": {"a": "1"}}))
    with watching(kubectl, "get", "configmaps", "-n", first, "-w") as next_row:
        assert next_row(lambda cells: cells[:1] == [first])[1] == "1"  # DATA
        kubectl.run("apply", "-n", first, "-f", "-", stdin=manifest(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": second}, "data": {"a": "1", "b": "2"}}))
        assert next_row(lambda cells: cells[:1] == [second])[1] == "2"


def test_get_events_watch_prints_events_written_after_its_list(cluster, kubectl, name):
    """Events are cached only once watched: the watch from kubectl's list starts their cache there."""
    namespace = name("ev")
    kubectl.run("create", "namespace", namespace)

    def write_event(reason: str) -> None:
        kubectl.run("create", "-n", namespace, "-f", "-", stdin=manifest({
            "apiVersion": "v1", "kind": "Event", "metadata": {"name": name("e")}, "type": "Normal",
            "involvedObject": {"kind": "Pod", "namespace": namespace, "name": "p"},
            "reason": reason, "message": f"{reason} happened", "count": 1}))

    async def cache_running(server):
        return server.storage.storage(by_kind("v1", "Event")).cache.running

    write_event("BeforeTheWatch")
    assert not cluster.call(cache_running)  # no test of this module watches Events before
    with watching(kubectl, "get", "events", "-n", namespace, "-w") as next_row:
        next_row(lambda cells: "BeforeTheWatch" in cells)
        write_event("AfterTheWatch")
        next_row(lambda cells: "AfterTheWatch" in cells)
    assert cluster.call(cache_running)


# ------------------------------------------------------------------ describe, explain, discovery


def test_describe_shows_the_deployment(cluster, kubectl, name):
    dep = name("desc")
    kubectl.run("apply", "-f", "-", stdin=manifest(web_deployment(dep, env={"GREETING": "hello"})))
    out = kubectl.run("describe", "deployment", dep).stdout
    assert out.splitlines()[0].split() == ["Name:", dep]
    assert "Namespace:              default" in out
    assert "Replicas:               2 desired | 0 updated | 0 total | 0 available | 0 unavailable" in out
    assert "StrategyType:           RollingUpdate" in out
    assert re.search(r"^\s+Image:\s+nginx:1\.25$", out, re.M)
    assert re.search(r"^\s+GREETING:\s+hello$", out, re.M)


def test_explain_reads_the_openapi_schema(kubectl):
    out = kubectl.run("explain", "deployment.spec.strategy").stdout
    assert "KIND:       Deployment" in out
    assert "FIELD: strategy <DeploymentStrategy>" in out
    assert "rollingUpdate\t<RollingUpdateDeployment>" in out
    assert "type\t<string>" in out


def test_api_resources_lists_the_served_kinds(kubectl):
    out = kubectl.run("api-resources").stdout
    header, rows = table_rows(out)
    assert header == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    assert rows["pods"] == ["pods", "po", "v1", "true", "Pod"]
    assert rows["deployments"] == ["deployments", "deploy", "apps/v1", "true", "Deployment"]
    assert rows["namespaces"] == ["namespaces", "ns", "v1", "false", "Namespace"]
    assert "jobs" in rows


def test_version_reports_the_server(kubectl):
    out = json.loads(kubectl.run("version", "-o", "json").stdout)
    assert out["serverVersion"]["major"] == "1"
    assert "-orchestra." in out["serverVersion"]["gitVersion"]


# ------------------------------------------------------------------ imperative changes


def test_scale_sets_the_replicas(cluster, kubectl, name):
    dep = name("scale")
    kubectl.run("apply", "-f", "-", stdin=manifest(deployment(dep)))
    assert kubectl.run("scale", f"deploy/{dep}", "--replicas=5").stdout.strip() == f"deployment.apps/{dep} scaled"
    assert stored(cluster, "apps/v1", "Deployment", dep)["spec"]["replicas"] == 5


def test_patch_merge_json_and_strategic(cluster, kubectl, name):
    dep = name("patch")
    kubectl.run("apply", "-f", "-", stdin=manifest(web_deployment(dep)))

    kubectl.run("patch", "deploy", dep, "--type=merge", "-p", '{"metadata":{"labels":{"tier":"front"}}}')
    assert stored(cluster, "apps/v1", "Deployment", dep)["metadata"]["labels"] == {"app": dep, "tier": "front"}

    failing = kubectl.fails("patch", "deploy", dep, "--type=json", "-p",
                            '[{"op":"test","path":"/spec/replicas","value":99},'
                            '{"op":"replace","path":"/spec/replicas","value":7}]')
    assert "The request is invalid" in failing.stderr
    assert stored(cluster, "apps/v1", "Deployment", dep)["spec"]["replicas"] == 2

    kubectl.run("patch", "deploy", dep, "--type=json", "-p",
                '[{"op":"test","path":"/spec/replicas","value":2},{"op":"replace","path":"/spec/replicas","value":7}]')
    assert stored(cluster, "apps/v1", "Deployment", dep)["spec"]["replicas"] == 7

    # Strategic: the container list is merged by name, so env and ports stay.
    out = kubectl.run("patch", "deploy", dep, "-p",
                      '{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.27"}]}}}}')
    assert out.stdout.strip() == f"deployment.apps/{dep} patched"
    container = container_of(stored(cluster, "apps/v1", "Deployment", dep))
    assert container["image"] == "nginx:1.27"
    assert [e["name"] for e in container["env"]] == ["A", "B"]
    assert len(container["ports"]) == 2


def test_label_and_annotate(cluster, kubectl, name):
    dep = name("meta")
    kubectl.run("apply", "-f", "-", stdin=manifest(deployment(dep)))
    assert kubectl.run("label", "deploy", dep, "tier=front").stdout.strip() == f"deployment.apps/{dep} labeled"
    assert kubectl.run("annotate", "deploy", dep, "note=hi").stdout.strip() == f"deployment.apps/{dep} annotated"
    meta = stored(cluster, "apps/v1", "Deployment", dep)["metadata"]
    assert meta["labels"]["tier"] == "front" and meta["annotations"]["note"] == "hi"
    kubectl.run("label", "deploy", dep, "tier-")
    assert "tier" not in stored(cluster, "apps/v1", "Deployment", dep)["metadata"]["labels"]
    refused = kubectl.fails("label", "deploy", dep, "app=other")
    assert "already has a value" in refused.stderr
    _, rows = table_rows(kubectl.run("get", "deploy", "-l", f"app={dep}", "--show-labels").stdout)
    assert rows[dep][-1] == f"app={dep}"


def test_set_env_adds_and_removes_variables(cluster, kubectl, name):
    dep = name("env")
    kubectl.run("apply", "-f", "-", stdin=manifest(web_deployment(dep, env={"A": "1", "B": "2"})))
    assert kubectl.run("set", "env", f"deploy/{dep}", "C=3", "A-").stdout.strip() == f"deployment.apps/{dep} env updated"
    assert container_of(stored(cluster, "apps/v1", "Deployment", dep))["env"] == [
        {"name": "B", "value": "2"}, {"name": "C", "value": "3"}]


def test_rollout_pause_resume_restart(cluster, kubectl, name):
    dep = name("roll")
    kubectl.run("apply", "-f", "-", stdin=manifest(deployment(dep)))
    assert kubectl.run("rollout", "pause", f"deploy/{dep}").stdout.strip() == f"deployment.apps/{dep} paused"
    assert stored(cluster, "apps/v1", "Deployment", dep)["spec"]["paused"] is True
    assert kubectl.run("rollout", "resume", f"deploy/{dep}").stdout.strip() == f"deployment.apps/{dep} resumed"
    assert not stored(cluster, "apps/v1", "Deployment", dep)["spec"].get("paused")
    before = stored(cluster, "apps/v1", "Deployment", dep)["metadata"]["generation"]
    assert kubectl.run("rollout", "restart", f"deploy/{dep}").stdout.strip() == f"deployment.apps/{dep} restarted"
    after = stored(cluster, "apps/v1", "Deployment", dep)
    assert "kubectl.kubernetes.io/restartedAt" in after["spec"]["template"]["metadata"]["annotations"]
    assert after["metadata"]["generation"] == before + 1


# ------------------------------------------------------------------ delete


def test_delete_with_orphan_cascade_leaves_the_object_to_the_collector(cluster, kubectl, name):
    dep = name("orphan")
    kubectl.run("apply", "-f", "-", stdin=manifest(deployment(dep)))
    # --wait=false: the garbage collector that removes the orphan finalizer is not running here.
    out = kubectl.run("delete", "deploy", dep, "--cascade=orphan", "--wait=false").stdout
    assert out.strip() == f'deployment.apps "{dep}" deleted'
    left = stored(cluster, "apps/v1", "Deployment", dep)
    assert left["metadata"]["finalizers"] == ["orphan"]
    assert left["metadata"]["deletionTimestamp"]
    # A second, background delete drops the orphan finalizer, so the object goes.
    kubectl.run("delete", "deploy", dep, "--wait=false")
    assert stored(cluster, "apps/v1", "Deployment", dep) is None


def test_delete_with_foreground_cascade_sets_its_finalizer(cluster, kubectl, name):
    dep = name("fg")
    kubectl.run("apply", "-f", "-", stdin=manifest(deployment(dep)))
    kubectl.run("delete", "deploy", dep, "--cascade=foreground", "--wait=false")
    assert stored(cluster, "apps/v1", "Deployment", dep)["metadata"]["finalizers"] == ["foregroundDeletion"]


def test_delete_with_a_grace_period_keeps_a_bound_pod_until_confirmed(cluster, kubectl, name):
    bound, unbound = name("bound"), name("unbound")
    kubectl.run("apply", "-f", "-", stdin=manifest(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": bound},
         "spec": {"nodeName": "node-a", "containers": [{"name": "c", "image": "busybox"}]}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": unbound},
         "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
    ))
    kubectl.run("delete", "pod", bound, "--grace-period=45", "--wait=false")
    pod = stored(cluster, "v1", "Pod", bound)
    assert pod["metadata"]["deletionGracePeriodSeconds"] == 45
    assert pod["metadata"]["deletionTimestamp"]
    _, rows = table_rows(kubectl.run("get", "pods").stdout)
    assert rows[bound][2] == "Terminating"

    kubectl.run("delete", "pod", unbound, "--grace-period=45", "--wait=false")
    assert stored(cluster, "v1", "Pod", unbound) is None

    forced = kubectl.run("delete", "pod", bound, "--grace-period=0", "--force")
    assert f'pod "{bound}" force deleted' in forced.stdout
    assert stored(cluster, "v1", "Pod", bound) is None


# ------------------------------------------------------------------ typed create commands
#
# kubectl 1.32 sends the objects of its typed commands (create namespace/configmap/deployment/
# job/service, …) as protobuf, with no fallback to JSON on a 415 (client-go falls back only from
# CBOR); the server decodes them (orchestra.apiserver.protobuf).


def test_typed_create_commands_send_protobuf_which_the_server_decodes(cluster, kubectl, name):
    cm = name("pb")
    out = kubectl.run("create", "configmap", cm, "--from-literal=a=b", "-v=8")
    request_type = re.search(r"Content-Type: (\S+)", out.stderr).group(1)  # the request's header comes first
    client = json.loads(kubectl.run("version", "--client", "-o", "json").stdout)["clientVersion"]
    minor = int(client["minor"].rstrip("+"))
    # kubectl 1.32 and later send protobuf; older ones JSON.
    assert request_type == ("application/vnd.kubernetes.protobuf" if minor >= 32 else "application/json")
    assert out.stdout.strip() == f"configmap/{cm} created"
    assert stored(cluster, "v1", "ConfigMap", cm)["data"] == {"a": "b"}


def test_create_namespace(cluster, kubectl, name):
    ns = name("ns")
    assert kubectl.run("create", "namespace", ns).stdout.strip() == f"namespace/{ns} created"
    assert stored(cluster, "v1", "Namespace", ns, namespace=None)["status"]["phase"] == "Active"


def test_create_configmap_from_literal(cluster, kubectl, name):
    cm = name("cm")
    out = kubectl.run("create", "configmap", cm, "--from-literal=a=b", "--from-literal=c=d")
    assert out.stdout.strip() == f"configmap/{cm} created"
    assert stored(cluster, "v1", "ConfigMap", cm)["data"] == {"a": "b", "c": "d"}


def test_create_deployment(cluster, kubectl, name):
    dep = name("created")
    out = kubectl.run("create", "deployment", dep, "--image=nginx", "--replicas=2", "--port=8080")
    zero = name("zero")
    kubectl.run("create", "deployment", zero, "--image=nginx", "--replicas=0")
    assert stored(cluster, "apps/v1", "Deployment", zero)["spec"]["replicas"] == 0  # a set pointer field
    assert out.stdout.strip() == f"deployment.apps/{dep} created"
    obj = stored(cluster, "apps/v1", "Deployment", dep)
    assert obj["spec"]["replicas"] == 2
    assert obj["spec"]["selector"] == {"matchLabels": {"app": dep}}
    container = container_of(obj)
    assert container["image"] == "nginx"
    assert container["ports"][0]["containerPort"] == 8080
    assert obj["spec"]["strategy"]["type"] == "RollingUpdate"  # defaulted by the server


def test_create_job_and_service(cluster, kubectl, name):
    job, svc = name("job"), name("svc")
    assert kubectl.run("create", "job", job, "--image=busybox", "--", "echo", "hi").stdout.strip() == f"job.batch/{job} created"
    spec = stored(cluster, "batch/v1", "Job", job)["spec"]["template"]["spec"]
    assert spec["containers"][0]["command"] == ["echo", "hi"]
    assert spec["restartPolicy"] == "Never"
    assert kubectl.run("create", "service", "clusterip", svc, "--tcp=80:8080").stdout.strip() == f"service/{svc} created"
    port = stored(cluster, "v1", "Service", svc)["spec"]["ports"][0]
    assert (port["port"], port["targetPort"], port["protocol"]) == (80, 8080, "TCP")
    cron = name("cron")
    kubectl.run("create", "cronjob", cron, "--image=busybox", "--schedule=*/5 * * * *", "--", "date")
    cron_spec = stored(cluster, "batch/v1", "CronJob", cron)["spec"]
    assert cron_spec["schedule"] == "*/5 * * * *"
    assert cron_spec["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"] == ["date"]


def test_create_dry_run_writes_nothing(cluster, kubectl, name):
    cm = name("dry")
    out = kubectl.run("create", "configmap", cm, "--from-literal=a=b", "--dry-run=server", "-o", "json")
    assert json.loads(out.stdout)["data"] == {"a": "b"}
    assert stored(cluster, "v1", "ConfigMap", cm) is None


# ------------------------------------------------------------------ authorization


def test_read_only_user_may_read_but_not_create(cluster, kubectl, viewer, name):
    cm = name("ro")
    kubectl.run("apply", "-f", "-", stdin=manifest(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": cm}, "data": {"a": "b"}}))
    assert json.loads(viewer.run("get", "configmap", cm, "-o", "json").stdout)["data"] == {"a": "b"}
    refused = viewer.fails("apply", "-f", "-", stdin=manifest(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name("ro")}, "data": {"a": "b"}}))
    assert "Error from server (Forbidden)" in refused.stderr
    assert 'User "viewer" cannot create resource "configmaps"' in refused.stderr
    refused = viewer.fails("delete", "configmap", cm)
    assert "Error from server (Forbidden)" in refused.stderr
    assert stored(cluster, "v1", "ConfigMap", cm) is not None


def test_a_bad_token_is_unauthorized(cluster, tmp_path):
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    path = tmp_path / "kubeconfig"
    path.write_text(kubeconfig_yaml(kubeconfig(admin["clusters"][0]["cluster"]["server"],
                                               ca_pem=cluster.server.pki.ca_cert.read_bytes(), token="wrong")))
    out = Kubectl(find_kubectl(), path, tmp_path).fails("get", "pods")
    assert "Unauthorized" in out.stderr or "must be logged in" in out.stderr
