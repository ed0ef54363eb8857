"""A hostile tenant against the real API server, the operator and the emulator.

Team a tries to reach team b's job, buckets and networks; each test names the finding it
proves closed (docs/security.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sagemaker_operator import names
from sagemaker_operator.controller import reconcile
from sagemaker_operator.devstack.controlplane import ControlPlane, KubectlError
from sagemaker_operator.emulator import testing
from tests.controller.helpers import apply as apply_manifests
from tests.controller.helpers import condition, events, eventually, get, patch, wait_phase
from tests.plugins.emulator import client_for
from tests.plugins.operator import ApplyPolicy, OperatorProcess, StartOperator
from tests.security.conftest import allow, team_manifest

LONG = {"duration-seconds": "100000"}  # trains until stopped


def _tags(sagemaker_emulator: testing.Running, arn: str) -> dict[str, str]:
    found = client_for(sagemaker_emulator.url).list_tags(ResourceArn=arn)["Tags"]
    return {t["Key"]: t["Value"] for t in found}


def _job_status(sagemaker_emulator: testing.Running, job: str) -> str:
    client = client_for(sagemaker_emulator.url)
    return str(client.describe_training_job(TrainingJobName=job)["TrainingJobStatus"])


def _team_b_job(
    control_plane: ControlPlane, other_namespace: str, apply_policy: ApplyPolicy
) -> dict[str, Any]:
    apply_policy(other_namespace, allow=allow("team-b"))
    apply_manifests(control_plane, other_namespace, team_manifest("b", "team-b", fate=LONG))
    return wait_phase(control_plane, other_namespace, "b", "InProgress")


def _forge(
    control_plane: ControlPlane,
    namespace: str,
    other_namespace: str,
    apply_policy: ApplyPolicy,
    operator: OperatorProcess,
    keys: tuple[str, ...],
) -> dict[str, Any]:
    """Team b's running job, then (operator stopped) team a's resource whose status, written
    by whoever can write trainingjobs/status, copies ``keys`` of team b's status (naming its
    job); returns team b's status."""
    theirs = _team_b_job(control_plane, other_namespace, apply_policy)["status"]
    operator.stop()
    apply_policy(namespace, allow=allow("team-a"))
    apply_manifests(control_plane, namespace, team_manifest("forged", "team-a"))
    assert all(key in theirs for key in keys)  # the proof too: the operator wrote team b's
    patch(control_plane, namespace, "forged", status={key: theirs[key] for key in keys})
    return dict(theirs)


NAMING = ("trainingJobName", "trainingJobArn", "region", "phase", "trainingJobStatus")
# What a status writer may copy besides: team b's ownership proof, valid for team b's
# resource and job; it must prove nothing for team a's resource (docs/security.md).
FORGERIES = [
    pytest.param(NAMING, id="names-the-job"),
    pytest.param((*NAMING, "ownershipProof"), id="with-its-ownership-proof"),
]


def test_finding_1_another_teams_job_cannot_be_adopted(
    control_plane: ControlPlane,
    namespace: str,
    other_namespace: str,
    start_operator: StartOperator,
    apply_policy: ApplyPolicy,
    sagemaker_emulator: testing.Running,
) -> None:
    start_operator(namespace, clusterwide=True)
    theirs = _team_b_job(control_plane, other_namespace, apply_policy)["status"]
    apply_policy(namespace, allowAdoption=True, allow=allow("team-a"))
    grab = team_manifest(
        "grab",
        "team-a",
        trainingJobName=theirs["trainingJobName"],
        annotations={reconcile.ADOPT_ANNOTATION: "true"},
    )
    apply_manifests(control_plane, namespace, grab)
    refused = wait_phase(control_plane, namespace, "grab", "Failed")
    succeeded = condition(refused, "Succeeded")
    assert succeeded["reason"] == "NameConflict"
    assert other_namespace not in succeeded["message"]  # never says whose
    assert "trainingJobArn" not in refused["status"]  # nothing of theirs mirrored
    tags = _tags(sagemaker_emulator, theirs["trainingJobArn"])
    assert tags[names.TAG_NAMESPACE] == other_namespace  # provenance untouched
    control_plane.kubectl("delete", names.PLURAL, "grab", "-n", namespace, "--timeout=60s")
    assert sagemaker_emulator.admin.calls("StopTrainingJob") == 0
    assert _job_status(sagemaker_emulator, theirs["trainingJobName"]) == "InProgress"


def test_finding_2_s3_urls_and_look_alike_buckets_are_refused(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
    apply_policy: ApplyPolicy,
    sagemaker_emulator: testing.Running,
) -> None:
    apply_policy(namespace, allow=allow("team-a"))
    start_operator(namespace)
    escapes = {
        "virtual": "https://team-b.s3.amazonaws.com/out/",
        "path": "https://s3.us-east-1.amazonaws.com/team-b/out/",
        "evil": "s3://team-a-evil/out/",
    }
    for name, uri in escapes.items():
        apply_manifests(
            control_plane,
            namespace,
            team_manifest(name, "team-a", outputDataConfig={"s3OutputPath": uri}),
        )
    for name, uri in escapes.items():
        refused = wait_phase(control_plane, namespace, name, "Failed")
        succeeded = condition(refused, "Succeeded")
        assert succeeded["reason"] == "NotAllowedByPolicy", name
        assert uri in succeeded["message"]
    assert sagemaker_emulator.admin.calls("CreateTrainingJob") == 0


def test_finding_3_updates_pass_the_guard_too(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
    apply_policy: ApplyPolicy,
    sagemaker_emulator: testing.Running,
) -> None:
    apply_policy(namespace, allow=allow("team-a"))
    start_operator(namespace)
    apply_manifests(control_plane, namespace, team_manifest("mine", "team-a", fate=LONG))
    wait_phase(control_plane, namespace, "mine", "InProgress")
    profiler = {"profilerConfig": {"s3OutputPath": "s3://team-b/profiler/"}}
    patch(control_plane, namespace, "mine", spec=profiler)

    def refused() -> dict[str, Any] | None:
        synced = condition(get(control_plane, namespace, "mine"), "Synced")
        return synced if synced["reason"] == "NotAllowedByPolicy" else None

    synced = eventually(refused)
    assert synced["status"] == "False"
    assert "s3://team-b/profiler/" in synced["message"]
    assert sagemaker_emulator.admin.calls("UpdateTrainingJob") == 0


def test_finding_5_networks_and_images_are_guarded(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
    apply_policy: ApplyPolicy,
    sagemaker_emulator: testing.Running,
) -> None:
    apply_policy(namespace, allow=allow("team-a", subnets=["subnet-a*"], securityGroups=["sg-a*"]))
    start_operator(namespace)
    vpc = {"vpcConfig": {"subnets": ["subnet-b1"], "securityGroupIds": ["sg-a1"]}}
    apply_manifests(control_plane, namespace, team_manifest("vpc", "team-a", **vpc))
    image = {"algorithmSpecification": {"trainingImage": "evil/img:1", "trainingInputMode": "File"}}
    apply_manifests(control_plane, namespace, team_manifest("img", "team-a", **image))
    for name, field in (("vpc", "spec.vpcConfig.subnets[0]"), ("img", "trainingImage")):
        succeeded = condition(wait_phase(control_plane, namespace, name, "Failed"), "Succeeded")
        assert succeeded["reason"] == "NotAllowedByPolicy"
        assert field in succeeded["message"]
    assert sagemaker_emulator.admin.calls("CreateTrainingJob") == 0


def test_finding_6_a_misspelled_or_empty_policy_does_not_lift_the_guard(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
    apply_policy: ApplyPolicy,
    sagemaker_emulator: testing.Running,
) -> None:
    # A misspelled member is refused at apply, not ignored into "no restriction".
    with pytest.raises(KubectlError, match="rolearns"):
        apply_policy(namespace, allow={"rolearns": ["*"]})
    # An empty policy allows nothing.
    apply_policy(namespace)
    start_operator(namespace)
    apply_manifests(control_plane, namespace, team_manifest("empty", "team-a"))
    refused = wait_phase(control_plane, namespace, "empty", "Failed")
    assert condition(refused, "Succeeded")["reason"] == "NotAllowedByPolicy"
    assert sagemaker_emulator.admin.calls("CreateTrainingJob") == 0


def test_finding_6_no_policy_means_deny_when_the_operator_requires_one(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
    sagemaker_emulator: testing.Running,
) -> None:
    start_operator(namespace, require_policy="true")
    apply_manifests(control_plane, namespace, team_manifest("ungoverned", "team-a"))
    refused = wait_phase(control_plane, namespace, "ungoverned", "Failed")
    assert condition(refused, "Succeeded")["reason"] == "NoPolicy"
    assert sagemaker_emulator.admin.calls("CreateTrainingJob") == 0


@pytest.mark.parametrize("keys", FORGERIES)
def test_finding_7_a_forged_status_neither_mirrors_nor_stops_another_job(
    keys: tuple[str, ...],
    control_plane: ControlPlane,
    namespace: str,
    other_namespace: str,
    start_operator: StartOperator,
    apply_policy: ApplyPolicy,
    sagemaker_emulator: testing.Running,
) -> None:
    operator = start_operator(namespace, clusterwide=True)
    theirs = _forge(control_plane, namespace, other_namespace, apply_policy, operator, keys)
    operator.start()
    refused = wait_phase(control_plane, namespace, "forged", "Failed")
    assert condition(refused, "Succeeded")["reason"] == "JobNotOwned"
    assert "secondaryStatusTransitions" not in refused["status"]  # nothing mirrored
    control_plane.kubectl("delete", names.PLURAL, "forged", "-n", namespace, "--timeout=60s")
    assert sagemaker_emulator.admin.calls("StopTrainingJob") == 0
    assert _job_status(sagemaker_emulator, theirs["trainingJobName"]) == "InProgress"


@pytest.mark.parametrize("keys", FORGERIES)
def test_finding_7_deleting_a_forged_resource_never_stops_the_job(
    keys: tuple[str, ...],
    control_plane: ControlPlane,
    namespace: str,
    other_namespace: str,
    start_operator: StartOperator,
    apply_policy: ApplyPolicy,
    sagemaker_emulator: testing.Running,
) -> None:
    operator = start_operator(namespace, clusterwide=True)
    theirs = _forge(control_plane, namespace, other_namespace, apply_policy, operator, keys)
    # The finalizer was added by the first operator; the deletion waits for the next one.
    control_plane.kubectl("delete", names.PLURAL, "forged", "-n", namespace, "--wait=false")
    operator.start()
    control_plane.kubectl(
        "wait", "--for=delete", f"{names.PLURAL}/forged", "-n", namespace, "--timeout=60s"
    )
    assert sagemaker_emulator.admin.calls("StopTrainingJob") == 0
    assert _job_status(sagemaker_emulator, theirs["trainingJobName"]) == "InProgress"


def test_finding_8_a_refused_deletion_names_its_way_out_and_takes_it(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
    sagemaker_emulator: testing.Running,
) -> None:
    start_operator(namespace)
    apply_manifests(control_plane, namespace, team_manifest("held", "team-a", fate=LONG))
    job = wait_phase(control_plane, namespace, "held", "InProgress")["status"]["trainingJobName"]
    # Once it trains, nothing changes until stopped: the refusal is the only news.
    control_plane.kubectl(
        "wait",
        f"{names.PLURAL}/held",
        "-n",
        namespace,
        "--for=jsonpath={.status.secondaryStatus}=Training",
        "--timeout=60s",
    )
    sagemaker_emulator.admin.refuse("StopTrainingJob", message="explicit deny in an SCP")
    control_plane.kubectl("delete", names.PLURAL, "held", "-n", namespace, "--wait=false")

    def held() -> dict[str, Any] | None:
        synced = condition(get(control_plane, namespace, "held"), "Synced")
        return synced if synced["reason"] == "AccessDeniedException" else None

    synced = eventually(held)
    assert "explicit deny in an SCP" in synced["message"]
    assert reconcile.RELEASE_ANNOTATION in synced["message"]  # the way out, named
    control_plane.kubectl(
        "annotate", names.PLURAL, "held", "-n", namespace, f"{reconcile.RELEASE_ANNOTATION}=true"
    )
    control_plane.kubectl(
        "wait", "--for=delete", f"{names.PLURAL}/held", "-n", namespace, "--timeout=60s"
    )
    assert _job_status(sagemaker_emulator, job) == "InProgress"  # released, not stopped
    assert "ReleasedWithoutStop" in [r for _, r, _ in events(control_plane, namespace, "held")]


def test_the_policy_example_is_accepted_and_its_typo_is_not(
    control_plane: ControlPlane, crd_installed: None
) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "policy.yaml"
    control_plane.kubectl("apply", "--dry-run=server", "-f", str(example))
    typo = example.read_text().replace("roleArns:", "rolearns:")
    with pytest.raises(KubectlError, match="rolearns"):
        control_plane.kubectl("apply", "--dry-run=server", "-f", "-", input=typo)
