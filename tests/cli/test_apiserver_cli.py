"""``orchestra apiserver`` and ``orchestra kubeconfig``: start, serve, stop, and clear errors."""

from __future__ import annotations

import json
import signal
import socket
import ssl
import subprocess
import sys
import urllib.request

import yaml
from click.testing import CliRunner

from orchestra.apiserver.certs import ensure_pki
from orchestra.cli.kubeconfig import kubeconfig_command
from orchestra.cli.main import main

RUN_CLI = [sys.executable, "-c", "import sys; from orchestra.cli.main import main; sys.exit(main())"]


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*RUN_CLI, *args], capture_output=True, text=True, timeout=timeout)


def test_anonymous_admin_needs_insecure_http(tmp_path, capsys):
    code = main(["apiserver", "--data-dir", str(tmp_path), "--anonymous-admin"])
    assert code == 2
    assert "--anonymous-admin is only allowed together with --insecure-http" in capsys.readouterr().err


def test_bad_store_url_is_one_line_error(tmp_path):
    result = run_cli("apiserver", "--data-dir", str(tmp_path), "--store", "bogus://x", "--port", "0")
    assert result.returncode == 1
    assert "bogus" in result.stderr and "Traceback" not in result.stderr


def test_busy_port_is_a_clear_error(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("apiserver", "--data-dir", str(tmp_path), "--port", str(port))
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: the port is already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_serves_until_sigterm(tmp_path):
    proc = subprocess.Popen([*RUN_CLI, "apiserver", "--data-dir", str(tmp_path), "--port", "0"],
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        assert "listening on https://127.0.0.1:" in line, line
        url = line.rsplit(" ", 1)[1].strip()
        config = yaml.safe_load((tmp_path / "kubeconfig").read_text())
        assert config["clusters"][0]["cluster"]["server"] == url
        token = config["users"][0]["user"]["token"]
        ctx = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
        request = urllib.request.Request(url + "/api/v1/namespaces", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, context=ctx, timeout=60) as response:
            assert json.load(response)["kind"] == "NamespaceList"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        rest = proc.stderr.read()
        assert "shutting down" in rest and "Traceback" not in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def test_kubeconfig_without_a_started_server(tmp_path):
    result = CliRunner().invoke(kubeconfig_command, ["--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "no kubeconfig in" in result.output


def test_kubeconfig_for_a_server_url(tmp_path):
    ensure_pki(tmp_path)
    result = CliRunner().invoke(kubeconfig_command, ["--data-dir", str(tmp_path), "--server", "https://10.0.0.1:6443"])
    assert result.exit_code == 0, result.output
    config = yaml.safe_load(result.output)
    assert config["clusters"][0]["cluster"]["server"] == "https://10.0.0.1:6443"
    assert config["clusters"][0]["cluster"]["certificate-authority-data"]
    result = CliRunner().invoke(kubeconfig_command, ["--data-dir", str(tmp_path), "--server", "10.0.0.1"])
    assert result.exit_code == 2


def test_kubeconfig_prints_the_saved_file(tmp_path):
    (tmp_path / "kubeconfig").write_text("apiVersion: v1\nkind: Config\n")
    result = CliRunner().invoke(kubeconfig_command, ["--data-dir", str(tmp_path)])
    assert result.output == "apiVersion: v1\nkind: Config\n"


def test_tune_gc_for_serving_freezes_start_up_objects_and_raises_thresholds():
    import gc

    from orchestra.cli.apiserver import GC_THRESHOLDS, tune_gc_for_serving

    thresholds = gc.get_threshold()
    try:
        tune_gc_for_serving()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_etcd_compaction_interval_takes_a_duration(tmp_path, api_server_options, capsys):
    seen = api_server_options
    for value, seconds in (("30s", 30.0), ("1m30s", 90.0), ("0", 0.0), ("45", 45.0)):
        code = main(["apiserver", "--data-dir", str(tmp_path), "--port", "0", "--etcd-compaction-interval", value])
        assert code == 1 and "store not opened in this test" in capsys.readouterr().err
        assert seen.pop()["compaction_interval"] == seconds
    assert main(["apiserver", "--data-dir", str(tmp_path), "--port", "0"]) == 1
    assert seen.pop()["compaction_interval"] == 300.0  # Kubernetes' default, 5m


def test_a_bad_etcd_compaction_interval_is_one_line(tmp_path, capsys):
    for value in ("-1", "soon", "5 m"):
        code = main(["apiserver", "--data-dir", str(tmp_path), "--etcd-compaction-interval", value])
        err = capsys.readouterr().err
        assert code == 2 and "--etcd-compaction-interval" in err and "Traceback" not in err


def test_event_ttl_takes_a_duration_and_a_bad_one_is_one_line(tmp_path, api_server_options, capsys):
    seen = api_server_options
    for args, seconds in ((["--event-ttl", "10m"], 600.0), (["--event-ttl", "0"], 0.0), ([], 3600.0)):
        assert main(["apiserver", "--data-dir", str(tmp_path), "--port", "0", *args]) == 1
        assert "store not opened in this test" in capsys.readouterr().err and seen.pop()["event_ttl"] == seconds
    assert main(["apiserver", "--data-dir", str(tmp_path), "--event-ttl", "a while"]) == 2
    err = capsys.readouterr().err
    assert "--event-ttl" in err and "Traceback" not in err
