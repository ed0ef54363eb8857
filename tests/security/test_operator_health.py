"""Inputs that used to wedge the operator for every tenant, or duplicate a job."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sagemaker_operator import names
from sagemaker_operator.devstack.controlplane import ControlPlane
from sagemaker_operator.emulator import testing
from tests.controller.helpers import apply as apply_manifests
from tests.controller.helpers import condition, eventually, wait_phase
from tests.plugins.emulator import client_for
from tests.plugins.operator import OperatorProcess, StartOperator
from tests.security.conftest import team_manifest

BOGUS = 100
MIB = 1024 * 1024


def _rss(process: OperatorProcess) -> int:
    assert process.popen is not None
    status = Path(f"/proc/{process.popen.pid}/status").read_text()
    (line,) = [line for line in status.splitlines() if line.startswith("VmRSS:")]
    return int(line.split()[1]) * 1024


def test_finding_4_a_hundred_bogus_regions_cost_nothing_and_go_away(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
    sagemaker_emulator: testing.Running,
) -> None:
    operator = start_operator(namespace)
    # Warm: one real job, so the one real region's client exists before the measure.
    apply_manifests(control_plane, namespace, team_manifest("real", "team-a"))
    wait_phase(control_plane, namespace, "real", "Completed")
    before = _rss(operator)
    regions = [f"xx-bogus-{i}" for i in range(BOGUS - 1)]
    regions.append("xx-" + "y" * 80 + "-1")  # longer than botocore accepts in a host name
    apply_manifests(
        control_plane,
        namespace,
        *(team_manifest(f"bogus-{i}", "team-a", region=r) for i, r in enumerate(regions)),
    )
    for i, region in enumerate(regions):
        refused = wait_phase(control_plane, namespace, f"bogus-{i}", "Failed")
        succeeded = condition(refused, "Succeeded")
        assert succeeded["reason"] == "UnknownRegion"
        assert region in succeeded["message"]
    grown = _rss(operator) - before
    assert grown < 20 * MIB, f"RSS grew {grown / MIB:.1f} MiB for {BOGUS} bogus regions"
    control_plane.kubectl("delete", names.PLURAL, "-n", namespace, "-l", "!keep", "--timeout=120s")
    left = control_plane.kubectl("get", names.PLURAL, "-n", namespace, "-o", "name").stdout
    assert left.strip() == ""
    assert sagemaker_emulator.admin.calls("CreateTrainingJob") == 1  # the real one only
    assert "xx-bogus" not in operator.metrics()  # no unbounded metrics label


def test_a_lost_create_answer_still_makes_exactly_one_job(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
    sagemaker_emulator: testing.Running,
) -> None:
    sagemaker_emulator.admin.lose_responses("CreateTrainingJob", mode="drop")
    start_operator(namespace)
    apply_manifests(control_plane, namespace, team_manifest("lost", "team-a"))
    done = wait_phase(control_plane, namespace, "lost", "Completed")
    assert sagemaker_emulator.admin.calls("CreateTrainingJob", "LostResponse") == 1
    jobs = client_for(sagemaker_emulator.url).list_training_jobs()["TrainingJobSummaries"]
    assert [j["TrainingJobName"] for j in jobs] == [done["status"]["trainingJobName"]]


def test_a_lost_create_answer_and_a_new_default_region_still_make_one_job(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
    sagemaker_emulator: testing.Running,
) -> None:
    # The create is applied in us-east-1 and its answer lost; the operator dies before its
    # retry (kopf's retry waits at least 1 s) and comes back with another default region.
    sagemaker_emulator.admin.lose_responses("CreateTrainingJob", mode="drop")
    first = start_operator(namespace)
    apply_manifests(control_plane, namespace, team_manifest("moved", "team-a"))
    eventually(
        lambda: sagemaker_emulator.admin.calls("CreateTrainingJob", "LostResponse") == 1,
        interval=0.02,
    )
    first.kill()
    start_operator(namespace, default_region="eu-west-1")
    done = wait_phase(control_plane, namespace, "moved", "Completed")
    assert done["status"]["region"] == "us-east-1"  # recorded before the create went out
    for region in ("us-east-1", "eu-west-1"):
        client = client_for(sagemaker_emulator.url, region=region)
        jobs = client.list_training_jobs()["TrainingJobSummaries"]
        expected = [done["status"]["trainingJobName"]] if region == "us-east-1" else []
        assert [j["TrainingJobName"] for j in jobs] == expected, region


def test_an_http_endpoint_is_refused_unless_declared_an_emulator(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAGEMAKER_OPERATOR_")}
    env |= {
        "SAGEMAKER_OPERATOR_SAGEMAKER_ENDPOINT_URL": "http://sagemaker.example:80",
        "SAGEMAKER_OPERATOR_DEFAULT_REGION": "us-east-1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "sagemaker_operator.cli", "run", "--kubeconfig", "/nonexistent"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "plain http" in result.stderr
    assert "--allow-insecure-endpoint" in result.stderr
