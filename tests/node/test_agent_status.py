"""Pod phase and conditions as the kubelet computes them."""

from __future__ import annotations

import pytest

from orchestra.node.status import ContainerView, PodView, build_pod_status, pod_phase, waiting


def running(name: str = "c", ready: bool = True) -> ContainerView:
    return ContainerView(name, "img", state={"running": {"startedAt": "2026-01-01T00:00:00Z"}}, ready=ready,
                         started=True)


def terminated(code: int, name: str = "c") -> ContainerView:
    return ContainerView(name, "img", state={"terminated": {"exitCode": code, "reason": "Error"}})


def crash_looping(name: str = "c") -> ContainerView:
    return ContainerView(name, "img", state=waiting("CrashLoopBackOff"),
                         last_state={"terminated": {"exitCode": 1}})


@pytest.mark.parametrize(("policy", "containers", "phase"), [
    ("Always", [ContainerView("c", "i")], "Pending"),
    ("Always", [running()], "Running"),
    ("Always", [crash_looping()], "Running"),
    ("Always", [terminated(0)], "Running"),
    ("Never", [terminated(0)], "Succeeded"),
    ("Never", [terminated(1)], "Failed"),
    ("Never", [terminated(0), running("d")], "Running"),
    ("OnFailure", [terminated(0), terminated(0, "d")], "Succeeded"),
    ("OnFailure", [terminated(0), crash_looping("d")], "Running"),
])
def test_pod_phase(policy, containers, phase):
    assert pod_phase(policy, [], containers) == phase


def test_failed_init_container_fails_a_never_pod_and_keeps_others_pending():
    init = [terminated(1, "init")]
    assert pod_phase("Never", init, [ContainerView("c", "i")]) == "Failed"
    assert pod_phase("Always", [crash_looping("init")], [ContainerView("c", "i")]) == "Pending"


def test_terminating_pod_with_always_policy_ends_succeeded_or_failed():
    assert pod_phase("Always", [], [terminated(0)], terminating=True) == "Succeeded"
    assert pod_phase("Always", [], [terminated(137)], terminating=True) == "Failed"


def test_conditions_keep_transition_times_and_foreign_conditions():
    pod = {"spec": {"containers": [{"name": "c"}]},
           "status": {"conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": "T0"},
                                     {"type": "Ready", "status": "False", "lastTransitionTime": "T1"},
                                     {"type": "example.com/gate", "status": "True"}]}}
    view = PodView("10.0.0.1", pod_ip="10.1.0.5", sandbox_ready=True, containers=[running(ready=False)])
    status = build_pod_status(pod, view)
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["lastTransitionTime"] == "T1"
    assert conditions["Ready"]["reason"] == "ContainersNotReady"
    assert conditions["Ready"]["message"] == "containers with unready status: [c]"
    assert conditions["PodScheduled"]["lastTransitionTime"] == "T0"
    assert conditions["example.com/gate"]["status"] == "True"
    assert status["podIP"] == "10.1.0.5" and status["hostIPs"] == [{"ip": "10.0.0.1"}]


def test_readiness_gate_holds_ready_false():
    pod = {"spec": {"readinessGates": [{"conditionType": "example.com/lb"}]}, "status": {}}
    view = PodView("10.0.0.1", containers=[running()])
    conditions = {c["type"]: c for c in build_pod_status(pod, view)["conditions"]}
    assert conditions["ContainersReady"]["status"] == "True"
    assert conditions["Ready"]["status"] == "False"
    assert conditions["Ready"]["reason"] == "ReadinessGatesNotReady"
