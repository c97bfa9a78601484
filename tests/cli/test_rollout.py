"""``orchestra rollout``: status, history, undo, pause, resume, restart against a running cluster."""

from __future__ import annotations


import pytest

from orchestra.cli.rollout import RolloutFailed, status_message
from tests.support.cli_server import deployment
from tests.support.controller_cluster import start_controllers


@pytest.fixture(scope="module")
def controllers(cluster):
    running = start_controllers(cluster)
    yield running
    running.stop()


def _set_image(orchestra, tmp_path, name, image, cause=None):
    manifest = deployment(name, replicas=2)
    manifest["spec"]["template"]["spec"]["containers"][0]["image"] = image
    if cause:
        manifest["metadata"]["annotations"] = {"kubernetes.io/change-cause": cause}
    path = tmp_path / f"{name}-{image.replace(':', '-')}.yaml"
    import yaml
    path.write_text(yaml.safe_dump(manifest))
    outcome = orchestra("apply", "-f", str(path))
    assert outcome.code == 0, outcome.err


def _rolled_out(orchestra, name):
    outcome = orchestra("rollout", "status", f"deployment/{name}", "--timeout", "30")
    assert outcome.code == 0, outcome.err
    assert outcome.out.strip().splitlines()[-1] == f'deployment "{name}" successfully rolled out'
    return outcome


def _images(cluster, name):
    async def images(server):
        from orchestra.apiserver.request import UserInfo
        from orchestra.client import Client

        client = Client.in_process(server, UserInfo("test", role="admin"))
        pods = (await client.list("pods", namespace="default", label_selector=f"app={name}", raw=True)).items
        return sorted(p["spec"]["containers"][0]["image"] for p in pods if not p["metadata"].get("deletionTimestamp"))

    return cluster.call(images)


def test_status_message_follows_kubectl_wording():
    d = {"metadata": {"name": "web", "generation": 2}, "spec": {"replicas": 3},
         "status": {"observedGeneration": 1}}
    assert status_message(d) == ("Waiting for deployment spec update to be observed...", False)
    d["status"] = {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 1}
    assert status_message(d)[0] == ('Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas '
                                    "have been updated...")
    d["status"].update(updatedReplicas=3, replicas=4)
    assert status_message(d)[0] == 'Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...'
    d["status"].update(replicas=3, availableReplicas=2)
    assert status_message(d)[0] == 'Waiting for deployment "web" rollout to finish: 2 of 3 updated replicas are available...'
    d["status"].update(availableReplicas=3)
    assert status_message(d) == ('deployment "web" successfully rolled out', True)
    d["status"]["conditions"] = [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]
    with pytest.raises(RolloutFailed, match="exceeded its progress deadline"):
        status_message(d)


def test_status_history_undo(orchestra, controllers, unique, tmp_path):
    name = unique("roll")
    _set_image(orchestra, tmp_path, name, "web:1")
    _rolled_out(orchestra, name)
    _set_image(orchestra, tmp_path, name, "web:2", cause="image web:2")
    _rolled_out(orchestra, name)
    history = orchestra("rollout", "history", f"deployment/{name}")
    assert history.code == 0, history.err
    assert history.out.splitlines()[:4] == [f"deployment.apps/{name} ", "REVISION  CHANGE-CAUSE",
                                            "1         <none>", "2         image web:2"]
    one = orchestra("rollout", "history", f"deployment/{name}", "--revision", "1")
    assert f"deployment.apps/{name} with revision #1" in one.out and "image: web:1" in one.out
    assert "pod-template-hash" not in one.out
    undo = orchestra("rollout", "undo", f"deployment/{name}")
    assert undo.code == 0 and undo.out.strip() == f"deployment.apps/{name} rolled back"
    _rolled_out(orchestra, name)
    assert _images(controllers.cluster, name) == ["web:1", "web:1"]
    history = orchestra("rollout", "history", f"deployment/{name}")
    assert [line.split()[0] for line in history.out.splitlines()[2:] if line.strip()] == ["2", "3"]
    to_two = orchestra("rollout", "undo", f"deployment/{name}", "--to-revision", "2")
    assert to_two.code == 0
    _rolled_out(orchestra, name)
    assert _images(controllers.cluster, name) == ["web:2", "web:2"]
    missing = orchestra("rollout", "undo", f"deployment/{name}", "--to-revision", "99")
    assert missing.code == 1 and "unable to find specified revision 99" in missing.err


def test_pause_resume_restart(orchestra, controllers, unique, tmp_path):
    name = unique("pause")
    _set_image(orchestra, tmp_path, name, "web:1")
    _rolled_out(orchestra, name)
    paused = orchestra("rollout", "pause", f"deployment/{name}")
    assert paused.code == 0 and paused.out.strip() == f"deployment.apps/{name} paused"
    again = orchestra("rollout", "pause", f"deployment/{name}")
    assert again.code == 1 and "is already paused" in again.err
    restart = orchestra("rollout", "restart", f"deployment/{name}")
    assert restart.code == 1 and "can't restart paused deployment" in restart.err
    undo = orchestra("rollout", "undo", f"deployment/{name}")
    assert undo.code == 1 and "cannot rollback a paused deployment" in undo.err
    resumed = orchestra("rollout", "resume", f"deployment/{name}")
    assert resumed.code == 0 and resumed.out.strip() == f"deployment.apps/{name} resumed"
    before = orchestra("get", "pods", "-l", f"app={name}", "-o", "name").out.split()
    restart = orchestra("rollout", "restart", f"deployment/{name}")
    assert restart.code == 0 and restart.out.strip() == f"deployment.apps/{name} restarted"
    _rolled_out(orchestra, name)
    history = orchestra("rollout", "history", f"deployment/{name}")
    assert [line.split()[0] for line in history.out.splitlines()[2:] if line.strip()] == ["1", "2"]
    after = orchestra("get", "pods", "-l", f"app={name}", "-o", "name").out.split()
    assert len(after) == 2 and not set(before) & set(after)


def test_status_of_something_else_is_refused(orchestra, controllers):
    outcome = orchestra("rollout", "status", "pod/x")
    assert outcome.code == 1 and "no rollout support for kind 'Pod'" in outcome.err


def test_status_without_watch_reports_once(orchestra, controllers, unique, tmp_path):
    name = unique("nowatch")
    _set_image(orchestra, tmp_path, name, "web:1")
    _rolled_out(orchestra, name)
    outcome = orchestra("rollout", "status", f"deployment/{name}", "--watch=false")
    assert outcome.code == 0 and outcome.out.strip() == f'deployment "{name}" successfully rolled out'


def test_undo_takes_the_revisions_change_cause(orchestra, controllers, unique, tmp_path):
    name = unique("cause")
    _set_image(orchestra, tmp_path, name, "web:1", cause="first")
    _rolled_out(orchestra, name)
    _set_image(orchestra, tmp_path, name, "web:2", cause="second")
    _rolled_out(orchestra, name)
    assert orchestra("rollout", "undo", f"deployment/{name}").code == 0
    _rolled_out(orchestra, name)
    history = orchestra("rollout", "history", f"deployment/{name}").out.splitlines()[2:]
    assert [line.split(None, 1) for line in history if line.strip()] == [["2", "second"], ["3", "first"]]
