"""The reconciler end to end: the operator process, the real API server, the emulator over HTTP."""

from __future__ import annotations

import functools
from typing import Any

from sagemaker_operator import names
from sagemaker_operator.controller import owned
from sagemaker_operator.devstack.controlplane import ControlPlane
from sagemaker_operator.emulator import testing
from tests.controller.helpers import (
    FATE,
    apply,
    condition,
    events,
    eventually,
    get,
    get_all,
    manifest,
    metric,
    patch,
    wait_phase,
)
from tests.plugins.emulator import client_for
from tests.plugins.operator import ApplyPolicy, StartOperator

LONG = {"duration-seconds": "100000"}  # a job that trains until stopped
P = "sagemaker_operator_"  # the operator's metric names


def test_a_job_runs_to_completed_with_one_create(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
    sagemaker_emulator: testing.Running,
) -> None:
    start_operator(namespace)
    apply(control_plane, namespace, manifest("train"))
    done = wait_phase(control_plane, namespace, "train", "Completed")

    status = done["status"]
    assert status["trainingJobStatus"] == "Completed"
    assert status["secondaryStatus"] == "Completed"
    assert status["modelArtifacts"]["s3ModelArtifacts"].startswith("s3://bucket/output/")
    assert [t["status"] for t in status["secondaryStatusTransitions"]][:2] == [
        "Starting",
        "Downloading",
    ]
    assert condition(done, "Succeeded")["status"] == "True"
    assert condition(done, "Synced")["status"] == "True"
    assert status["observedGeneration"] == done["metadata"]["generation"]
    assert status["logsUrl"].startswith("https://us-east-1.console.aws.amazon.com/cloudwatch/")
    assert done["metadata"]["finalizers"] == [names.FINALIZER]
    # kopf's bookkeeping lives under our prefix, never kopf's default one.
    annotations = done["metadata"].get("annotations", {})
    assert any(key.startswith(f"{names.GROUP}/") for key in annotations)
    assert not [key for key in annotations if key.startswith("kopf.zalando.org/")]
    assert sagemaker_emulator.admin.calls("CreateTrainingJob") == 1

    client = client_for(sagemaker_emulator.url)
    tags = {
        t["Key"]: t["Value"] for t in client.list_tags(ResourceArn=status["trainingJobArn"])["Tags"]
    }
    assert tags[names.TAG_UID] == done["metadata"]["uid"]
    assert tags[names.TAG_NAMESPACE] == namespace
    assert tags[names.TAG_NAME] == "train"

    reasons = [reason for _, reason, _ in events(control_plane, namespace, "train")]
    assert "Created" in reasons
    eventually(lambda: "Completed" in [r for _, r, _ in events(control_plane, namespace, "train")])


def test_kubectl_wait_for_succeeded_returns(
    control_plane: ControlPlane, namespace: str, start_operator: StartOperator
) -> None:
    start_operator(namespace)
    apply(control_plane, namespace, manifest("waited"))
    waited = control_plane.kubectl(
        "wait",
        f"{names.PLURAL}/waited",
        "-n",
        namespace,
        "--for=condition=Succeeded",
        "--timeout=60s",
    )
    assert "condition met" in waited.stdout
    assert get(control_plane, namespace, "waited")["status"]["phase"] == "Completed"


def test_max_runtime_exceeded_stops_with_that_reason(
    control_plane: ControlPlane, namespace: str, start_operator: StartOperator
) -> None:
    start_operator(namespace)
    # The emulated job trains for 180 s; the limit ends it first.
    apply(
        control_plane, namespace, manifest("slow", stoppingCondition={"maxRuntimeInSeconds": 100})
    )
    control_plane.kubectl(
        "wait",
        f"{names.PLURAL}/slow",
        "-n",
        namespace,
        "--for=condition=Succeeded=False",
        "--timeout=60s",
    )
    stopped = get(control_plane, namespace, "slow")
    assert stopped["status"]["phase"] == "Stopped"
    assert stopped["status"]["secondaryStatus"] == "MaxRuntimeExceeded"
    assert condition(stopped, "Succeeded")["reason"] == "MaxRuntimeExceeded"


SPOT: dict[str, Any] = {
    "enableManagedSpotTraining": True,
    "stoppingCondition": {"maxRuntimeInSeconds": 3600, "maxWaitTimeInSeconds": 7200},
    "checkpointConfig": {"s3Uri": "s3://bucket/checkpoints/"},
}


def test_an_interrupted_spot_job_resumes_and_completes(
    control_plane: ControlPlane, namespace: str, start_operator: StartOperator
) -> None:
    start_operator(namespace)
    apply(control_plane, namespace, manifest("spot", fate={"outcome": "Interrupted"}, **SPOT))
    done = wait_phase(control_plane, namespace, "spot", "Completed")
    steps = [t["status"] for t in done["status"]["secondaryStatusTransitions"]]
    assert "Interrupted" in steps
    assert steps[-1] == "Completed"
    assert condition(done, "Succeeded")["status"] == "True"


def test_spot_capacity_that_never_returns_stops_with_max_wait_exceeded(
    control_plane: ControlPlane, namespace: str, start_operator: StartOperator
) -> None:
    start_operator(namespace)
    spec = SPOT | {"stoppingCondition": {"maxRuntimeInSeconds": 3600, "maxWaitTimeInSeconds": 3600}}
    apply(
        control_plane,
        namespace,
        manifest("nospot", fate={"outcome": "MaxWaitTimeExceeded"}, **spec),
    )
    stopped = wait_phase(control_plane, namespace, "nospot", "Stopped")
    assert stopped["status"]["secondaryStatus"] == "MaxWaitTimeExceeded"
    assert condition(stopped, "Succeeded")["reason"] == "MaxWaitTimeExceeded"


def test_a_failed_job_reports_sagemakers_reason(
    control_plane: ControlPlane, namespace: str, start_operator: StartOperator
) -> None:
    start_operator(namespace)
    reason = "AlgorithmError: CUDA out of memory"
    apply(
        control_plane,
        namespace,
        manifest("oom", fate={"outcome": "Failed", "failure-reason": reason}),
    )
    failed = wait_phase(control_plane, namespace, "oom", "Failed")
    succeeded = condition(failed, "Succeeded")
    assert (succeeded["status"], succeeded["reason"], succeeded["message"]) == (
        "False",
        "Failed",
        reason,
    )
    assert failed["status"]["failureReason"] == reason
    eventually(lambda: ("Warning", "Failed", reason) in events(control_plane, namespace, "oom"))


def test_sagemakers_refusal_is_terminal_and_not_retried(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
    sagemaker_emulator: testing.Running,
) -> None:
    operator = start_operator(namespace)
    # The schema cannot see it, SageMaker (the emulator) refuses it: a spot fate without spot.
    apply(control_plane, namespace, manifest("refused", fate={"outcome": "Interrupted"}))
    failed = wait_phase(control_plane, namespace, "refused", "Failed")
    succeeded = condition(failed, "Succeeded")
    assert succeeded["reason"] == "ValidationException"
    assert "spot" in succeeded["message"].lower()
    assert condition(failed, "Synced")["status"] == "False"
    eventually(
        lambda: (
            "ValidationException"
            in [r for t, r, _ in events(control_plane, namespace, "refused") if t == "Warning"]
        )
    )
    refusals = sagemaker_emulator.admin.calls("CreateTrainingJob", "ValidationException")
    assert refusals == 1
    operator.restart()  # a permanent error is not retried, not even after a restart
    apply(control_plane, namespace, manifest("after"))
    wait_phase(control_plane, namespace, "after", "Completed")
    assert sagemaker_emulator.admin.calls("CreateTrainingJob", "ValidationException") == 1


def test_a_name_taken_by_another_job_is_a_conflict(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
    sagemaker_emulator: testing.Running,
) -> None:
    admin = sagemaker_emulator.admin
    client = client_for(sagemaker_emulator.url)
    # Someone else's job, no uid tag, still training whenever the test looks.
    client.create_training_job(
        **_request_named("taken-job", **{FATE + k: v for k, v in LONG.items()})
    )
    start_operator(namespace)
    apply(control_plane, namespace, manifest("taken", trainingJobName="taken-job", fate=LONG))
    failed = wait_phase(control_plane, namespace, "taken", "Failed")
    assert condition(failed, "Succeeded")["reason"] == "NameConflict"
    assert admin.calls("CreateTrainingJob") == 1  # ours never went out
    # Deleting the refused resource must not stop the other job.
    control_plane.kubectl("delete", names.PLURAL, "taken", "-n", namespace, "--timeout=60s")
    assert "StopTrainingJob" not in admin.counters()["operations"]

    # A resource deleted while Pending (its name recorded, no job yet: a crash between the
    # name's write and CreateTrainingJob leaves this) must look whose job bears the name,
    # since it may be its own, and leave it running when it is someone else's.
    apply(control_plane, namespace, manifest("pending", trainingJobName="taken-job", fate=LONG))
    wait_phase(control_plane, namespace, "pending", "Failed")
    pending = {"phase": "Pending", "trainingJobName": "taken-job", "region": "us-east-1"}
    patch(control_plane, namespace, "pending", status=pending | {"conditions": None})
    status = get(control_plane, namespace, "pending")["status"]
    assert {key: status.get(key) for key in pending} == pending, status
    assert "trainingJobArn" not in status
    assert "conditions" not in status
    looked_up = admin.calls("DescribeTrainingJob")
    control_plane.kubectl("delete", names.PLURAL, "pending", "-n", namespace, "--wait=false")

    def released_or_stopped() -> bool:
        listed = control_plane.kubectl(
            "get", names.PLURAL, "pending", "-n", namespace, "--ignore-not-found", "-o", "name"
        )
        return not listed.stdout.strip() or "StopTrainingJob" in admin.counters()["operations"]

    eventually(released_or_stopped, timeout=60)
    assert "StopTrainingJob" not in admin.counters()["operations"]
    assert admin.calls("DescribeTrainingJob") == looked_up + 1  # the delete did look
    described = client.describe_training_job(TrainingJobName="taken-job")
    assert (described["TrainingJobStatus"], described["SecondaryStatus"]) == (
        "InProgress",
        "Training",
    )


def _request_named(name: str, **tags: str) -> dict[str, Any]:
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": "img:1", "TrainingInputMode": "File"},
        "RoleArn": "arn:aws:iam::123456789012:role/x",
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/o/"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        # NB: 5 days, 25 minutes of the tests' clock: "still training whenever the test
        # looks" must hold on a loaded machine (an hour, 12.6 s, ran out in CI-like load).
        "StoppingCondition": {"MaxRuntimeInSeconds": 432000},
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
    }


def test_a_job_left_by_a_crash_is_adopted_not_duplicated(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
    sagemaker_emulator: testing.Running,
) -> None:
    # The resource exists, and "a previous operator" created its job and died before
    # recording it: the job carries this resource's uid tag, the status is empty.
    apply(control_plane, namespace, manifest("crashed", trainingJobName="crashed-job"))
    uid = get(control_plane, namespace, "crashed")["metadata"]["uid"]
    client_for(sagemaker_emulator.url).create_training_job(
        **_request_named("crashed-job", **{names.TAG_UID: uid})
    )
    start_operator(namespace)
    done = wait_phase(control_plane, namespace, "crashed", "Completed")
    assert done["status"]["trainingJobName"] == "crashed-job"
    assert sagemaker_emulator.admin.calls("CreateTrainingJob") == 1  # the "crashed" one only
    eventually(lambda: "Adopted" in [r for _, r, _ in events(control_plane, namespace, "crashed")])


def test_an_unowned_job_is_adopted_where_a_policy_allows_it(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
    apply_policy: ApplyPolicy,
    sagemaker_emulator: testing.Running,
) -> None:
    client = client_for(sagemaker_emulator.url)
    client.create_training_job(**_request_named("legacy-job"))
    apply_policy(
        namespace,
        allowAdoption=True,
        allow={
            "roleArns": ["arn:aws:iam::123456789012:role/*"],
            "s3": ["s3://bucket"],
            "images": ["*"],
        },
    )
    start_operator(namespace)
    apply(
        control_plane,
        namespace,
        manifest(
            "legacy",
            trainingJobName="legacy-job",
            annotations={f"{names.GROUP}/adopt": "true"},
        ),
    )
    done = wait_phase(control_plane, namespace, "legacy", "Completed")
    assert done["status"]["trainingJobName"] == "legacy-job"
    assert sagemaker_emulator.admin.calls("CreateTrainingJob") == 1
    arn = done["status"]["trainingJobArn"]
    tags = {t["Key"]: t["Value"] for t in client.list_tags(ResourceArn=arn)["Tags"]}
    assert tags[names.TAG_UID] == done["metadata"]["uid"]


def test_delete_stops_the_job_then_releases(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
    sagemaker_emulator: testing.Running,
) -> None:
    start_operator(namespace)
    apply(control_plane, namespace, manifest("stopme", fate=LONG))
    running = wait_phase(control_plane, namespace, "stopme", "InProgress")
    eventually(lambda: get(control_plane, namespace, "stopme")["status"].get("trainingJobArn"))
    job_name = get(control_plane, namespace, "stopme")["status"]["trainingJobName"]
    assert running["metadata"]["finalizers"] == [names.FINALIZER]

    control_plane.kubectl("delete", names.PLURAL, "stopme", "-n", namespace, "--wait=false")
    control_plane.kubectl(
        "wait", f"{names.PLURAL}/stopme", "-n", namespace, "--for=delete", "--timeout=60s"
    )
    described = client_for(sagemaker_emulator.url).describe_training_job(TrainingJobName=job_name)
    assert described["TrainingJobStatus"] == "Stopped"
    assert sagemaker_emulator.admin.calls("StopTrainingJob") == 1


def test_retain_releases_at_once_and_leaves_the_job_running(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
    sagemaker_emulator: testing.Running,
) -> None:
    start_operator(namespace)
    apply(control_plane, namespace, manifest("keep", fate=LONG, deletionPolicy="Retain"))
    wait_phase(control_plane, namespace, "keep", "InProgress")
    job_name = get(control_plane, namespace, "keep")["status"]["trainingJobName"]
    control_plane.kubectl("delete", names.PLURAL, "keep", "-n", namespace, "--timeout=60s")
    described = client_for(sagemaker_emulator.url).describe_training_job(TrainingJobName=job_name)
    assert described["TrainingJobStatus"] == "InProgress"
    assert sagemaker_emulator.admin.calls("StopTrainingJob") == 0


def test_an_allowed_change_goes_out_through_update(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
    sagemaker_emulator: testing.Running,
) -> None:
    start_operator(namespace)
    apply(control_plane, namespace, manifest("tune", fate=LONG))
    wait_phase(control_plane, namespace, "tune", "InProgress")
    eventually(lambda: get(control_plane, namespace, "tune")["status"].get("trainingJobArn"))
    patch(
        control_plane,
        namespace,
        "tune",
        spec={"profilerConfig": {"profilingIntervalInMilliseconds": 500}},
    )
    eventually(lambda: sagemaker_emulator.admin.calls("UpdateTrainingJob") == 1)
    job_name = get(control_plane, namespace, "tune")["status"]["trainingJobName"]
    described = client_for(sagemaker_emulator.url).describe_training_job(TrainingJobName=job_name)
    assert described["ProfilerConfig"]["ProfilingIntervalInMilliseconds"] == 500
    eventually(lambda: "Updated" in [r for _, r, _ in events(control_plane, namespace, "tune")])


def test_transient_faults_show_in_synced_and_still_create_once(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
    sagemaker_emulator: testing.Running,
) -> None:
    sagemaker_emulator.admin.set_faults(errorFraction=1.0, errorOperations=["CreateTrainingJob"])
    start_operator(namespace)
    apply(control_plane, namespace, manifest("flaky"))
    unsynced = eventually(
        lambda: [
            c
            for c in get(control_plane, namespace, "flaky").get("status", {}).get("conditions", [])
            if c["type"] == "Synced" and c["status"] == "False"
        ]
    )
    assert unsynced[0]["reason"] == "SageMakerUnavailable"
    assert get(control_plane, namespace, "flaky")["status"]["phase"] == "Pending"
    sagemaker_emulator.admin.set_faults(errorFraction=0.0)
    done = wait_phase(control_plane, namespace, "flaky", "Completed", timeout=90)
    assert condition(done, "Synced")["status"] == "True"
    assert sagemaker_emulator.admin.calls("CreateTrainingJob") == 1


def test_tenancy_guard_refuses_before_any_aws_call(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
    apply_policy: ApplyPolicy,
    sagemaker_emulator: testing.Running,
) -> None:
    apply_policy(
        namespace,
        allow={
            "roleArns": ["arn:aws:iam::123456789012:role/team-*"],
            "images": ["*"],
            "s3": ["s3://bucket"],
        },
    )
    start_operator(namespace)
    apply(control_plane, namespace, manifest("sneaky"))
    refused = wait_phase(control_plane, namespace, "sneaky", "Failed")
    assert condition(refused, "Succeeded")["reason"] == "NotAllowedByPolicy"
    assert "spec.roleArn" in condition(refused, "Succeeded")["message"]
    assert (
        sum(
            sagemaker_emulator.admin.counters()["operations"].get(op, {}).get("ok", 0)
            for op in ("CreateTrainingJob", "DescribeTrainingJob")
        )
        == 0
    )


def test_observation_is_in_bulk_and_terminal_jobs_cost_nothing(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
    sagemaker_emulator: testing.Running,
) -> None:
    operator = start_operator(namespace)
    admin = sagemaker_emulator.admin
    count = 12
    # Jobs that train until told to stop, then end in one step (Training -> Failed): every
    # change lasts until the operator has seen it, so each must cost exactly one Describe.
    fate = LONG | {"outcome": "Failed", "failure-reason": "AlgorithmError: told to end"}
    apply(control_plane, namespace, *(manifest(f"bulk-{i}", fate=fate) for i in range(count)))

    def secondaries() -> set[str]:
        return {
            r.get("status", {}).get("secondaryStatus", "")
            for r in get_all(control_plane, namespace).values()
        }

    def described_in_training() -> bool:
        # NB: a status shown from a listing's summary owes its Describe until the Describe's
        # transitions are written (the poller's own test of that: described_fully); counting
        # Describes before that raced with the payment (CI once saw 8 paid after every status
        # read Training).
        records = [
            owned.record_of(
                namespace=namespace,
                name=r["metadata"]["name"],
                uid=r["metadata"]["uid"],
                meta=r["metadata"],
                status=r.get("status") or {},
            )
            for r in get_all(control_plane, namespace).values()
        ]
        return all(
            record is not None
            and record.status.get("secondaryStatus") == "Training"
            and record.described_fully
            for record in records
        )

    eventually(lambda: len(get_all(control_plane, namespace)) == count)
    eventually(described_in_training, timeout=60)
    training = get_all(control_plane, namespace)
    # Up to Training a job has made three changes (Starting, Downloading, Training), some of
    # them too brief for a poll to catch: at least one Describe each, never more than three.
    describes = admin.calls("DescribeTrainingJob")
    assert count <= describes <= 3 * count

    # While nothing changes, polls cost a listing each and no Describe at all.
    lists = admin.calls("ListTrainingJobs")
    eventually(lambda: admin.calls("ListTrainingJobs") >= lists + 3)
    assert admin.calls("DescribeTrainingJob") == describes

    # Now every job makes one change; the operator describes each change exactly once.
    assert admin.finish_training("us-east-1") == count
    eventually(lambda: secondaries() == {"Failed"}, timeout=60)
    failed = get_all(control_plane, namespace)
    changes = sum(
        len(failed[name]["status"]["secondaryStatusTransitions"])
        - len(resource["status"]["secondaryStatusTransitions"])
        for name, resource in training.items()
    )
    assert changes == count
    assert admin.calls("DescribeTrainingJob") == describes + changes
    assert {r["status"]["phase"] for r in failed.values()} == {"Failed"}

    # Terminal jobs cost nothing: once a poller cycle has counted every job Failed, later
    # cycles neither list nor describe.
    cycles = P + "poller_cycle_seconds_count"
    eventually(lambda: metric(operator, P + "jobs", status="Failed") == count)
    settled = admin.counters()["operations"]
    done = metric(operator, cycles, region="us-east-1")
    eventually(lambda: metric(operator, cycles, region="us-east-1") >= done + 3)
    assert admin.counters()["operations"] == settled


def test_a_restart_resumes_from_status_without_describing_every_job(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
    sagemaker_emulator: testing.Running,
) -> None:
    admin = sagemaker_emulator.admin
    operator = start_operator(namespace)
    count = 8
    apply(control_plane, namespace, *(manifest(f"r-{i}", fate=LONG) for i in range(count)))
    eventually(lambda: len(get_all(control_plane, namespace)) == count)
    # Training, and described (a status shown from a summary owes a Describe: its last
    # transition lags), so that only the job changed below needs one after the restart.
    eventually(
        lambda: all(
            r.get("status", {}).get("secondaryStatus") == "Training"
            and r["status"].get("secondaryStatusTransitions", [{}])[-1].get("status") == "Training"
            for r in get_all(control_plane, namespace).values()
        ),
        timeout=60,
    )
    operator.kill()
    # While the operator is down, one job changes: someone stops it.
    client = client_for(sagemaker_emulator.url)
    victim = get(control_plane, namespace, "r-0")["status"]["trainingJobName"]
    client.stop_training_job(TrainingJobName=victim)
    eventually(
        lambda: (
            client.describe_training_job(TrainingJobName=victim)["TrainingJobStatus"] == "Stopped"
        )
    )
    describes = admin.calls("DescribeTrainingJob")
    before = get_all(control_plane, namespace)

    operator.start()
    stopped = wait_phase(control_plane, namespace, "r-0", "Stopped")
    assert stopped["status"]["trainingJobStatus"] == "Stopped"
    assert stopped["status"]["secondaryStatus"] == "Stopped"
    assert condition(stopped, "Succeeded")["status"] == "False"
    # A few cycles more: the seven unchanged jobs are listed, never described.
    lists = admin.calls("ListTrainingJobs")
    eventually(lambda: admin.calls("ListTrainingJobs") >= lists + 3)
    assert admin.calls("DescribeTrainingJob") == describes + 1
    after = get_all(control_plane, namespace)
    for i in range(1, count):
        assert after[f"r-{i}"]["status"] == before[f"r-{i}"]["status"], i
    assert admin.calls("CreateTrainingJob") == count


def test_metrics_and_liveness_are_served(
    control_plane: ControlPlane, namespace: str, start_operator: StartOperator
) -> None:
    operator = start_operator(namespace)
    apply(control_plane, namespace, manifest("metrics"))
    wait_phase(control_plane, namespace, "metrics", "Completed")
    text = eventually(
        lambda: (
            (t := operator.metrics()) and 'operation="create_training_job",outcome="ok"' in t and t
        )
    )
    calls = 'operation="create_training_job",outcome="ok",region="us-east-1"'
    assert f"sagemaker_operator_sagemaker_calls_total{{{calls}}} 1.0" in text
    assert "sagemaker_operator_status_lag_seconds_count" in text
    assert "sagemaker_operator_poller_pages_total" in text


def test_a_policy_limits_s3_locations(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
    apply_policy: ApplyPolicy,
    sagemaker_emulator: testing.Running,
) -> None:
    apply_policy(
        namespace,
        allow={"roleArns": ["*"], "images": ["*"], "s3": ["s3://team-bucket"]},
    )
    start_operator(namespace)
    apply(control_plane, namespace, manifest("outside"))
    refused = wait_phase(control_plane, namespace, "outside", "Failed")
    succeeded = condition(refused, "Succeeded")
    assert succeeded["reason"] == "NotAllowedByPolicy"
    assert "s3://bucket/output/" in succeeded["message"]
    inside = manifest("inside", outputDataConfig={"s3OutputPath": "s3://team-bucket/out/"})
    apply(control_plane, namespace, inside)
    wait_phase(control_plane, namespace, "inside", "Completed")
    assert sagemaker_emulator.admin.calls("CreateTrainingJob") == 1


def test_two_resources_racing_for_one_name_make_one_job(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
    sagemaker_emulator: testing.Running,
) -> None:
    # Both resources exist before the operator starts, so it takes them up together; every
    # call then takes a second, so both look-ups find no job (each is answered before either
    # create is applied) and both go on to create: the loser meets ResourceInUse on create.
    admin = sagemaker_emulator.admin
    admin.set_faults(latencyMs=1000)
    apply(
        control_plane,
        namespace,
        manifest("first", trainingJobName="shared-job"),
        manifest("second", trainingJobName="shared-job"),
    )
    start_operator(namespace)

    def settled(name: str) -> dict[str, Any] | None:
        resource = get(control_plane, namespace, name)
        done = resource.get("status", {}).get("phase") in ("Completed", "Failed")
        return resource if done else None

    finished = [
        eventually(functools.partial(settled, name), timeout=90) for name in ("first", "second")
    ]
    outcomes = sorted(
        (resource["status"]["phase"], condition(resource, "Succeeded")["reason"])
        for resource in finished
    )
    assert outcomes == [("Completed", "Completed"), ("Failed", "NameConflict")]
    assert admin.calls("CreateTrainingJob") == 1
    # The race was run, not sidestepped: the loser's create was the one refused.
    assert admin.calls("CreateTrainingJob", "ResourceInUse") == 1
