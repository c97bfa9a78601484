"""Scheduler configuration files: KubeSchedulerConfiguration parsing and the refusal of bad profiles."""

from __future__ import annotations

import textwrap

import pytest

from orchestra.scheduler.config import ConfigError, SchedulerConfig, build_frameworks, load_config, parse_config
from scheduler.sched_builders import builtin_registry


def write(tmp_path, text: str):
    path = tmp_path / "sched.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_a_full_file_loads(tmp_path):
    path = write(tmp_path, """\
        apiVersion: kubescheduler.config.k8s.io/v1
        kind: KubeSchedulerConfiguration
        percentageOfNodesToScore: 30
        podInitialBackoffSeconds: 2
        podMaxBackoffSeconds: 20
        podMaxInUnschedulablePodsDuration: 60
        profiles:
          - schedulerName: default-scheduler
          - schedulerName: bin-packing
            percentageOfNodesToScore: 100
            plugins:
              score:
                enabled: [{name: NodeResourcesFit, weight: 5}]
                disabled: [{name: ImageLocality}]
            pluginConfig:
              - name: NodeResourcesFit
                args: {scoringStrategy: {type: MostAllocated}}
        """)
    cfg = load_config(path)
    assert (cfg.pod_initial_backoff, cfg.pod_max_backoff, cfg.max_unschedulable) == (2.0, 20.0, 60.0)
    assert cfg.scheduler_names == ["default-scheduler", "bin-packing"]
    fws = build_frameworks(cfg, builtin_registry())
    assert fws["default-scheduler"].profile.percentage_of_nodes_to_score == 30
    packing = fws["bin-packing"]
    assert packing.profile.percentage_of_nodes_to_score == 100
    assert packing.profile.weights["NodeResourcesFit"] == 5
    assert "ImageLocality" not in [p.NAME for p in packing.plugins("score")]


def test_defaults():
    cfg = parse_config(None)
    assert cfg == SchedulerConfig(source="<config>")
    assert list(build_frameworks(cfg, builtin_registry())) == ["default-scheduler"]


@pytest.mark.parametrize("body, fragment", [
    ("profiles: [{plugins: {score: {enabled: [{name: NoSuchPlugin}]}}}]",
     "profiles[0]: profile default-scheduler: plugins.score: unknown plugin 'NoSuchPlugin'"),
    ("profiles: [{plugins: {score: {enabled: [{name: NodeResourcesFit, weight: 101}]}}}]",
     "profiles[0]: profile default-scheduler: plugins.score.enabled[0] (NodeResourcesFit): weight must be an integer 1..100, not 101"),
    ("profiles: [{pluginConfig: [{name: NodeResourcesFit, args: {scoringStrategy: {type: Sideways}}}]}]",
     "profiles[0]: profile default-scheduler: plugin NodeResourcesFit: scoringStrategy"),
    ("profiles: [{schedulerName: a}, {schedulerName: a}]", "profiles[1].schedulerName: 'a' is already used by profiles[0]"),
    ("profiles: [{}, {schedulerName: b, plugins: {queueSort: {disabled: [{name: '*'}]}}}]",
     "profiles[1]: a queueSort plugin must be enabled"),
])
def test_bad_profiles_are_refused_naming_file_and_field(tmp_path, body, fragment):
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as exc:
        build_frameworks(load_config(path), builtin_registry())
    assert str(exc.value).startswith(str(path))
    assert fragment in str(exc.value)


@pytest.mark.parametrize("body, fragment", [
    ("apiVersion: kubescheduler.config.k8s.io/v1beta1", "apiVersion must be kubescheduler.config.k8s.io/v1"),
    ("kind: Pod", "kind must be KubeSchedulerConfiguration"),
    ("colour: blue", "unknown field(s) colour"),
    ("podInitialBackoffSeconds: -1", "podInitialBackoffSeconds must be a number"),
    ("podInitialBackoffSeconds: 5\npodMaxBackoffSeconds: 1", "podMaxBackoffSeconds (1) must not be less"),
    ("percentageOfNodesToScore: 101", "percentageOfNodesToScore must be 0..100"),
    ("profiles: {a: 1}", "profiles must be a list"),
    ("leaderElection: {leaderElect: yes please}", "leaderElection.leaderElect must be true or false"),
    ("leaderElection: {leaderElect: true, leaseDuration: 5s}", "leader election needs lease_duration > renew_deadline"),
    ("leaderElection: {leaseDuration: soon}", "leaderElection.leaseDuration must be a duration"),
    ("leaderElection: {resourceLock: endpoints}", "only leases are supported"),
    ("leaderElection: {leaderElect: true, lockObjectName: x}", "leaderElection: unknown field(s) lockObjectName"),
    ("leaderElection: [true]", "leaderElection must be a map"),
    ("opportunisticBatching: sometimes", "opportunisticBatching must be true or false, not 'sometimes'"),
    ("profiles: [\n  - {", "not valid YAML"),
    ("- a list", "the configuration must be a map"),
])
def test_bad_files_are_refused(tmp_path, body, fragment):
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert str(exc.value).startswith(str(path)) and fragment in str(exc.value)


def test_leader_election_as_kube_scheduler_spells_it(tmp_path):
    path = write(tmp_path, "leaderElection:\n  leaderElect: true\n  leaseDuration: 1m30s\n  renewDeadline: 20s\n"
                           "  retryPeriod: 500ms\n  resourceName: my-scheduler\n")
    election = load_config(path).leader_election
    assert (election.namespace, election.name) == ("kube-system", "my-scheduler")
    assert (election.lease_duration, election.renew_deadline, election.retry_period) == (90.0, 20.0, 0.5)
    assert load_config(write(tmp_path, "leaderElection: {leaderElect: false}")).leader_election is None
    election = load_config(write(tmp_path, "leaderElection: {leaderElect: true}")).leader_election
    assert (election.namespace, election.name, election.lease_duration) == ("kube-system", "kube-scheduler", 15.0)


def test_opportunistic_batching_is_on_unless_turned_off(tmp_path):
    assert all(fw.batch is not None for fw in build_frameworks(parse_config(None), builtin_registry()).values())
    cfg = load_config(write(tmp_path, "opportunisticBatching: false\nprofiles: [{}, {schedulerName: b}]"))
    assert not cfg.opportunistic_batching
    assert all(fw.batch is None for fw in build_frameworks(cfg, builtin_registry()).values())


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read scheduler configuration"):
        load_config(tmp_path / "absent.yaml")
