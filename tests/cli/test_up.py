"""``orchestra up``: mistakes are one line before anything starts; ``--demo`` runs, checks and exits."""

from __future__ import annotations

import socket
from pathlib import Path

import attrs
import pytest

from orchestra.cli.main import main

REPO = Path(__file__).resolve().parents[2]


@attrs.frozen
class Outcome:
    """What one command did: exit code, stdout, stderr."""

    code: int
    out: str
    err: str


@pytest.fixture
def up(capsys):
    """Run ``orchestra up ARGS...`` in this process."""
    def invoke(*args: str) -> Outcome:
        capsys.readouterr()
        code = main(["up", *args])
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return invoke


def test_demo_outside_the_repository_says_where_to_run_it(up, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = up("--demo")
    assert out.code == 2
    assert "examples/web is not here: run it from the repository root, or pass -f" in out.err


def test_a_missing_manifest_path_is_a_usage_error(up, tmp_path):
    out = up("-f", str(tmp_path / "absent.yaml"), "--data-dir", str(tmp_path))
    assert out.code == 2 and "does not exist" in out.err


def test_an_unparsable_manifest_is_one_line(up, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: [unclosed\n")
    out = up("-f", str(bad), "--data-dir", str(tmp_path / "data"))
    assert out.code == 1
    assert str(bad) in out.err and "Traceback" not in out.err
    assert not (tmp_path / "data").exists()  # refused before anything started


def test_a_busy_port_is_one_line(up, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = up("--port", str(port), "--nodes", "0", "--data-dir", str(tmp_path))
    assert out.code == 1
    assert f"cannot listen on 127.0.0.1:{port}: the port is already in use" in out.err


def test_an_unknown_runtime_names_the_known_ones(up, tmp_path):
    out = up("--runtime", "nope", "--port", "0", "--data-dir", str(tmp_path))
    assert out.code == 1
    assert "unknown container runtime 'nope'; known runtimes:" in out.err and "process" in out.err


def test_demo_runs_the_examples_and_exits_zero(up, monkeypatch):
    monkeypatch.chdir(REPO)
    out = up("--demo")
    assert out.code == 0, out.out + out.err
    assert "deployment.apps/web: 3/3 pods ready" in out.out
    assert out.out.count("× hello from web-") == 3  # every pod answered
    assert "demo passed; shutting down" in out.out


def test_demo_fails_when_a_workload_never_gets_ready(up, tmp_path):
    never_ready = tmp_path / "never-ready.yaml"
    never_ready.write_text("""\
apiVersion: apps/v1
kind: Deployment
metadata: {name: stuck}
spec:
  replicas: 1
  selector: {matchLabels: {app: stuck}}
  template:
    metadata: {labels: {app: stuck}}
    spec:
      containers:
        - name: c
          image: none
          command: [python3, -c, "import time; time.sleep(120)"]
          readinessProbe:
            httpGet: {path: /, port: 9}
            periodSeconds: 1
""")
    out = up("--demo", "-f", str(never_ready), "--demo-timeout", "2")
    assert out.code == 1
    assert "FAILED: deployment.apps/stuck: 0 pods ready after 2 s" in out.out
    assert "demo FAILED; shutting down" in out.out


def test_an_unknown_proxy_mode_names_the_known_ones(up, tmp_path):
    out = up("--proxy-mode", "nope", "--nodes", "0", "--port", "0", "--data-dir", str(tmp_path))
    assert out.code == 1
    assert "no proxy mode called 'nope' (known modes: userspace" in out.err


def test_bad_grace_and_lease_periods_are_one_line(up, tmp_path):
    out = up("--node-monitor-grace-period", "0", "--data-dir", str(tmp_path))
    assert out.code == 2 and "--node-monitor-grace-period" in out.err and "greater than 0" in out.err
    assert "Traceback" not in out.err
    out = up("--node-lease-period", "-1", "--data-dir", str(tmp_path))
    assert out.code == 2 and "--node-lease-period" in out.err


@pytest.mark.parametrize("flag, value, option, seconds, bad", [
    ("--etcd-compaction-interval", "30s", "compaction_interval", 30.0, "never"),
    ("--event-ttl", "2h", "event_ttl", 7200.0, "-5m"),
])
def test_duration_flags_reach_the_api_server(up, tmp_path, api_server_options, flag, value, option, seconds, bad):
    out = up("--nodes", "0", "--port", "0", "--data-dir", str(tmp_path), flag, value)
    assert out.code == 1 and "store not opened in this test" in out.err
    assert [options[option] for options in api_server_options] == [seconds]
    out = up(flag, bad, "--data-dir", str(tmp_path))
    assert out.code == 2 and flag in out.err and "Traceback" not in out.err
