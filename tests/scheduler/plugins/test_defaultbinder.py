"""DefaultBinder: binds through the injected binder."""

from scheduler.sched_builders import make_framework, make_pod
from orchestra.scheduler import Code, CycleState, PodInfo, Status


async def test_bind_calls_the_binder_sync_or_async():
    calls = []

    async def binder(pod, node):
        calls.append((pod.key, node))

    fw = make_framework(binder=binder)
    pod = PodInfo.from_dict(make_pod("p"))
    assert (await fw.run_bind(CycleState(), pod, "n1")).is_success
    assert calls == [("default/p", "n1")]
    fw = make_framework(binder=lambda pod, node: Status.unschedulable("conflict"))
    status = await fw.run_bind(CycleState(), pod, "n1")
    assert status.code == Code.UNSCHEDULABLE and status.plugin == "DefaultBinder"


async def test_binder_errors_and_missing_binder_become_error_statuses():
    def broken(pod, node):
        raise RuntimeError("api down")

    pod = PodInfo.from_dict(make_pod("p"))
    status = await make_framework(binder=broken).run_bind(CycleState(), pod, "n1")
    assert status.code == Code.ERROR and "DefaultBinder" in status.message() and "api down" in status.message()
    status = await make_framework().run_bind(CycleState(), pod, "n1")
    assert status.code == Code.ERROR and "no binder" in status.message()


async def test_a_binder_answer_that_is_not_a_status_is_an_error_status():
    async def confused(pod, node):
        return "bound"

    pod = PodInfo.from_dict(make_pod("p"))
    status = await make_framework(binder=confused).run_bind(CycleState(), pod, "n1")
    assert status.code == Code.ERROR and status.plugin == "DefaultBinder" and "returned str" in status.message()
