"""``orchestra validate``: clear errors with file, line and field path; exit 1; never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from orchestra.cli.main import cli

EXAMPLES = Path(__file__).parent.parent.parent / "examples"

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25
        ports:
        - containerPort: 80
"""


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_valid_file(tmp_path):
    result = run("validate", "-f", write(tmp_path, "ok.yaml", DEPLOYMENT))
    assert result.exit_code == 0, result.output
    assert "1 object valid" in result.output


def test_examples_directory_is_valid():
    result = run("validate", "-R", "-f", str(EXAMPLES))
    assert result.exit_code == 0, result.output
    assert "are valid" in result.output


def test_malformed_yaml_names_file_and_line(tmp_path):
    path = write(tmp_path, "bad.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n")
    result = run("validate", "-f", path)
    assert result.exit_code == 1
    assert f"{path}:" in result.output
    assert "line" in result.output or f"{path}:4" in result.output or f"{path}:5" in result.output
    assert "Traceback" not in result.output


def test_wrong_type_names_field_path_and_line(tmp_path):
    path = write(tmp_path, "types.yaml", DEPLOYMENT.replace("replicas: 2", "replicas: three"))
    result = run("validate", "-f", path)
    assert result.exit_code == 1
    assert f"{path}:6: Deployment/web: spec.replicas" in result.output


def test_invalid_name_and_selector_mismatch_in_second_document(tmp_path):
    bad = DEPLOYMENT.replace("name: web\nspec", "name: Web_App\nspec").replace("app: web\n    spec", "app: other\n    spec")
    path = write(tmp_path, "multi.yaml", DEPLOYMENT + "---\n" + bad)
    result = run("validate", "-f", path)
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith(path)]
    assert any(":24: Deployment/Web_App: metadata.name: Invalid value: \"Web_App\"" in line for line in lines), lines
    assert any("spec.template.metadata.labels" in line and "selector" in line for line in lines), lines


def test_stdin(tmp_path):
    result = run("validate", "-f", "-", input=DEPLOYMENT.replace("image: nginx:1.25", "image: ''"))
    assert result.exit_code == 1
    assert "<stdin>" in result.output
    assert "spec.template.spec.containers[0].image: Required value" in result.output


def test_missing_path_is_a_usage_error():
    result = CliRunner().invoke(cli, ["validate", "-f", "/nonexistent/x.yaml"])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_console_script_never_prints_a_traceback(tmp_path):
    path = write(tmp_path, "junk.yaml", "\x00\x01 not yaml: [")
    out = subprocess.run([sys.executable, "-m", "orchestra", "validate", "-f", path],
                         capture_output=True, text=True)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr + out.stdout
    assert path in out.stderr
