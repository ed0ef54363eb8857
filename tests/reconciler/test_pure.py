"""Pure pieces of the reconciler: job names, phases, conditions, tenancy, events, the index."""

from __future__ import annotations

from typing import Any

import pytest

from sagemaker_operator.controller import news, owned, tenancy
from sagemaker_operator.resource import conditions, jobnames

UID = "0f3c2b1a-9d8e-4c7b-a6f5-e4d3c2b1a098"


@pytest.mark.parametrize(
    "name",
    ["train", "a.b.c", "x" * 253, "-leading", "my-model.v2--final", "a"],
)
def test_derived_names_match_sagemakers_pattern_and_keep_the_uid(name: str) -> None:
    derived = jobnames.derive(name, UID)
    assert jobnames.VALID.match(derived), derived
    assert len(derived) <= 63
    assert derived.endswith("0f3c2b1a")


def test_derived_names_are_stable_and_differ_by_uid() -> None:
    assert jobnames.derive("train", UID) == jobnames.derive("train", UID) == "train-0f3c2b1a"
    assert jobnames.derive("train", "11111111-" + UID[9:]) != jobnames.derive("train", UID)


def test_explicit_name_wins() -> None:
    assert jobnames.job_name_of({"trainingJobName": "mine"}, "train", UID) == "mine"
    assert jobnames.job_name_of({}, "train", UID) == "train-0f3c2b1a"


@pytest.mark.parametrize(
    ("sm_status", "phase", "succeeded"),
    [
        (None, "Pending", "Unknown"),
        ("InProgress", "InProgress", "Unknown"),
        ("Stopping", "Stopping", "Unknown"),
        ("Completed", "Completed", "True"),
        ("Failed", "Failed", "False"),
        ("Stopped", "Stopped", "False"),
    ],
)
def test_phase_and_succeeded(sm_status: str | None, phase: str, succeeded: str) -> None:
    assert conditions.phase_of(sm_status) == phase
    assert conditions.succeeded_for(sm_status, "boom")[0] == succeeded


def test_failure_reason_is_the_condition_message() -> None:
    assert conditions.succeeded_for("Failed", "AlgorithmError: out of memory") == (
        "False",
        "Failed",
        "AlgorithmError: out of memory",
    )


def test_condition_transition_time_moves_only_when_status_changes() -> None:
    first = conditions.with_condition(None, "Synced", "True", "Synced", "ok", 1)
    stamped = [dict(c, lastTransitionTime="2020-01-01T00:00:00Z") for c in first]
    same = conditions.with_condition(stamped, "Synced", "True", "Synced", "still ok", 2)
    assert same[0]["lastTransitionTime"] == "2020-01-01T00:00:00Z"
    assert same[0]["observedGeneration"] == 2
    flipped = conditions.with_condition(stamped, "Synced", "False", "Throttled", "slow", 2)
    assert flipped[0]["lastTransitionTime"] != "2020-01-01T00:00:00Z"


def test_conditions_are_a_list_keyed_by_type() -> None:
    both = conditions.with_condition(None, "Synced", "True", "Synced", "ok", 1)
    both = conditions.with_condition(both, "Succeeded", "Unknown", "InProgress", "run", 1)
    both = conditions.with_condition(both, "Synced", "False", "Throttled", "slow", 1)
    assert [c["type"] for c in both] == ["Succeeded", "Synced"]


SPEC: dict[str, Any] = {
    "roleArn": "arn:aws:iam::123456789012:role/team-a-training",
    "outputDataConfig": {"s3OutputPath": "s3://team-a/out/"},
    "inputDataConfig": [
        {"channelName": "train", "dataSource": {"s3DataSource": {"s3Uri": "s3://team-a/data/"}}}
    ],
}


def test_unrestricted_namespace_allows_anything() -> None:
    assert tenancy.check(SPEC, tenancy.allowance_for("ns", None, None)) is None


def test_configmap_entry_limits_roles_and_prefixes() -> None:
    data = {
        "ns": "roleArns: ['arn:aws:iam::123456789012:role/team-a-*']\ns3Prefixes: [s3://team-a/]"
    }
    assert tenancy.check(SPEC, tenancy.allowance_for("ns", data, None)) is None
    other = dict(SPEC, roleArn="arn:aws:iam::123456789012:role/admin")
    refusal = tenancy.check(other, tenancy.allowance_for("ns", data, None))
    assert refusal is not None
    assert refusal.reason == "RoleNotAllowed"


def test_s3_uris_anywhere_in_the_spec_are_checked() -> None:
    annotations = {tenancy.S3_ANNOTATION: "s3://team-a/data/"}
    refusal = tenancy.check(SPEC, tenancy.allowance_for("ns", None, annotations))
    assert refusal is not None
    assert refusal.reason == "S3PrefixNotAllowed"
    assert "s3://team-a/out/" in refusal.message


def test_configmap_wildcard_is_the_default_and_wins_over_annotations() -> None:
    data = {"*": "roleArns: []"}
    annotations = {tenancy.ROLE_ANNOTATION: "*"}
    refusal = tenancy.check(SPEC, tenancy.allowance_for("ns", data, annotations))
    assert refusal is not None
    assert refusal.reason == "RoleNotAllowed"


def test_events_for_transitions() -> None:
    old = {"trainingJobStatus": "InProgress", "secondaryStatus": "Training"}
    new = {
        "trainingJobStatus": "Failed",
        "secondaryStatus": "Failed",
        "failureReason": "AlgorithmError: bad data",
        "secondaryStatusTransitions": [{"status": "Failed", "statusMessage": "Training failed"}],
    }
    assert news.events_between(old, new) == [
        ("Normal", "SecondaryStatus", "Failed: Training failed"),
        ("Warning", "Failed", "AlgorithmError: bad data"),
    ]
    assert news.events_between(new, new) == []


@pytest.mark.parametrize(
    ("status", "terminal"),
    [
        ({"phase": "Completed"}, True),
        ({"phase": "InProgress", "trainingJobStatus": "InProgress"}, False),
        ({"phase": "Stopping", "trainingJobStatus": "Stopping"}, False),
        # A phase written late over SageMaker's word: the job has ended all the same.
        ({"phase": "Stopping", "trainingJobStatus": "Stopped"}, True),
        ({}, False),
    ],
)
def test_terminal_by_phase_or_by_sagemakers_status(status: dict[str, str], terminal: bool) -> None:
    assert conditions.is_terminal(status) is terminal


def test_owned_index_keeps_the_latest_record_per_resource() -> None:
    def record(uid: str, region: str, status: dict[str, str]) -> owned.OwnedJob | None:
        meta = {"generation": 1, "creationTimestamp": "2026-11-29T10:00:00Z"}
        full = {"trainingJobName": f"job-{uid}", "region": region, **status}
        return owned.record_of(namespace="ns", name=uid, uid=uid, meta=meta, status=full)

    index = owned.OwnedIndex()
    index.put("a", record("a", "us-east-1", {"trainingJobArn": "arn-a"}))
    index.put("b", record("b", "eu-west-1", {"trainingJobArn": "arn-b"}))
    index.put("c", record("c", "us-east-1", {}))  # no job yet: not indexed
    assert index.regions() == {"us-east-1", "eu-west-1"}
    assert [job.job_name for job in index.in_region("us-east-1")] == ["job-a"]

    index.put("a", record("a", "us-east-1", {"trainingJobArn": "arn-a", "phase": "Completed"}))
    assert [job.terminal for job in index.in_region("us-east-1")] == [True]
    index.put("b", None)  # deleted
    assert (len(index), index.regions()) == (1, {"us-east-1"})
