"""The plugin examples in docs/scheduler.md run as documented."""

from __future__ import annotations

import re
from pathlib import Path

from scheduler.sched_builders import builtin_registry, make_framework, make_node, make_pod, make_snapshot
from orchestra.scheduler import PodInfo

DOC = Path(__file__).resolve().parents[2] / "docs" / "scheduler.md"


def _examples() -> dict[str, type]:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    namespace: dict = {}
    for block in blocks:
        if "class " in block:
            exec(compile(block, str(DOC), "exec"), namespace)
    return {name: namespace[name] for name in ("RackFilter", "RackFilterBatch", "SignedRackFilter")}


def test_both_documented_forms_place_pods_the_same_way():
    examples = _examples()
    nodes = [make_node("r1-a", cpu="2", labels={"rack": "r1"}), make_node("r1-b", cpu="8", labels={"rack": "r1"}),
             make_node("r2-a", cpu="16", labels={"rack": "r2"})]
    for name in examples:
        profile = {"percentageOfNodesToScore": 100,
                   "plugins": {"multiPoint": {"enabled": [{"name": name, "weight": 5}]}},
                   "pluginConfig": [{"name": name, "args": {"label": "rack"}}]}
        fw = make_framework(profile, registry=examples)
        snap = make_snapshot(nodes)
        assert fw.schedule_one(make_pod("p", labels={"rack": "r1"}), snap).node_name == "r1-b", name
        result = fw.schedule_one(make_pod("q", labels={"rack": "r9"}), snap)
        assert result.fit_error.reasons == {"node(s) were in another rack": 3}, name
        assert (fw.batch is not None) == (name == "SignedRackFilter"), name


def test_the_documented_signing_plugin_batches_pods_of_one_rack():
    examples = _examples()
    name = "SignedRackFilter"
    profile = {"percentageOfNodesToScore": 100, "plugins": {"multiPoint": {"enabled": [{"name": name}]}},
               "pluginConfig": [{"name": name, "args": {"label": "rack"}}]}
    fw = make_framework(profile, registry=examples)
    snap = make_snapshot([make_node(f"n{i}", labels={"rack": "r1"}) for i in range(4)])
    for j in range(4):
        info = PodInfo.from_dict(make_pod(f"p{j}", labels={"rack": "r1"}))
        snap.assume_pod(info, fw.schedule_one(info, snap).node_name)
    assert fw.batch.batched == 3


def test_the_documented_profile_fields_are_accepted():
    assert "percentageOfNodesToScore" in DOC.read_text()
    fw = make_framework({"percentageOfNodesToScore": 0, "plugins": {"score": {"disabled": [{"name": "ImageLocality"}]}},
                         "pluginConfig": [{"name": "NodeResourcesFit", "args": {"scoringStrategy": {
                             "type": "MostAllocated", "resources": [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}]}}}]})
    assert "ImageLocality" not in [p.NAME for p in fw.plugins("score")]


def test_the_running_section_documents_every_flag_of_orchestra_scheduler():
    from orchestra.cli.scheduler import scheduler_command

    text = DOC.read_text()
    running = text[text.index("## Running the scheduler"):text.index("## Built-in plugins")]
    for param in scheduler_command.params:
        for opt in (*param.opts, *param.secondary_opts):
            assert f"`{opt}" in running, f"{opt} is not documented in docs/scheduler.md"


def test_the_documented_configuration_file_is_valid():
    import yaml

    from orchestra.scheduler.config import build_frameworks, parse_config

    files = [b for b in re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S) if "KubeSchedulerConfiguration" in b]
    assert files
    config = parse_config(yaml.safe_load(files[0]), "docs/scheduler.md")
    assert config.leader_election is not None and config.leader_election.name == "kube-scheduler"
    assert (config.leader_election.lease_duration, config.leader_election.renew_deadline) == (15.0, 10.0)
    build_frameworks(config, builtin_registry())
