"""Pure pieces of the reconciler: job names, phases, conditions, events, the index."""

from __future__ import annotations

from typing import Any

import pytest

from sagemaker_operator.controller import news, owned
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
    index.forget("b")  # deleted
    assert (len(index), index.regions()) == (1, {"us-east-1"})


def test_a_vouch_outlives_the_status_written_before_the_create() -> None:
    index = owned.OwnedIndex()
    index.vouch("a", "arn-a")  # the create succeeded, carrying a's uid tag
    index.put("a", None)  # then the watch shows the status recorded just before it
    assert index.vouched("a", "arn-a")
    index.forget("a")  # the resource is deleted
    assert not index.vouched("a", "arn-a")


def test_the_index_finds_a_job_by_region_and_name() -> None:
    def record(uid: str, job: str) -> owned.OwnedJob:
        status = {"trainingJobName": job, "region": "us-east-1", "trainingJobArn": f"arn-{job}"}
        meta = {"generation": 1, "creationTimestamp": "2026-11-29T10:00:00Z"}
        found = owned.record_of(namespace="ns", name=uid, uid=uid, meta=meta, status=status)
        assert found is not None
        return found

    index = owned.OwnedIndex()
    index.put("a", record("a", "job-1"))
    index.put("b", record("b", "job-1"))  # two resources naming one job
    assert sorted(j.uid for j in index.named("us-east-1", "job-1")) == ["a", "b"]
    index.put("a", record("a", "job-2"))  # its status now names another job
    assert [j.uid for j in index.named("us-east-1", "job-1")] == ["b"]
    index.forget("b")
    assert index.named("us-east-1", "job-1") == []
    assert index.named("eu-west-1", "job-2") == []


def versioned(version: str, secondary: str) -> owned.OwnedJob:
    """Resource a's record at one resourceVersion, its status naming job-1."""
    status = {
        "trainingJobName": "job-1",
        "region": "us-east-1",
        "trainingJobArn": "arn-1",
        "secondaryStatus": secondary,
    }
    meta = {"creationTimestamp": "2026-11-29T10:00:00Z", "resourceVersion": version}
    found = owned.record_of(namespace="ns", name="a", uid="a", meta=meta, status=status)
    assert found is not None
    return found


def test_the_index_shows_its_own_write_until_the_watch_moves_past_it() -> None:
    def shown() -> tuple[str | None, str]:
        (job,) = index.named("us-east-1", "job-1")
        return job.resource_version, job.status["secondaryStatus"]

    def answer(version: str, secondary: str) -> dict[str, Any]:
        written = versioned(version, secondary)
        return {"metadata": {"resourceVersion": version}, "status": dict(written.status)}

    index = owned.OwnedIndex()
    before = versioned("10", "Training")
    index.put("a", before)
    index.wrote(before, answer("11", "Stopping"))
    assert shown() == ("11", "Stopping")  # the next write goes onto version 11: no 409
    index.put("a", versioned("10", "Training"))  # a re-list showing the replaced version
    assert shown() == ("11", "Stopping")
    index.put("a", versioned("11", "Stopping"))  # the watch catches up
    index.put("a", versioned("12", "Stopped"))  # and moves on
    assert shown() == ("12", "Stopped")
    index.wrote(before, answer("13", "Stopping"))  # based on a version the watch has passed
    assert shown() == ("12", "Stopped")


def test_the_index_knows_a_new_job_from_the_handlers_write_before_the_watch_shows_it() -> None:
    """In the creation burst at N = 10,000 the watch ran minutes behind the handlers: the
    pollers must not wait for it to learn the jobs they are to look for."""

    index = owned.OwnedIndex()
    index.put("a", None)  # the watch: the resource, no job yet
    index.claimed("a", "arn-1", None)  # a create whose status write did not land
    assert index.vouched("a", "arn-1")
    assert index.in_region("us-east-1") == []
    written = versioned("12", "Starting")
    answered = {
        "metadata": {"namespace": "ns", "name": "a", "resourceVersion": "12"},
        "status": dict(written.status),
    }
    index.claimed("a", "arn-1", answered)  # the create handler's write answered
    assert [job.resource_version for job in index.in_region("us-east-1")] == ["12"]
    index.put("a", None)  # the watch, late: versions from before the job
    assert [job.resource_version for job in index.in_region("us-east-1")] == ["12"]
    index.put("a", versioned("12", "Starting"))  # the watch catches up
    index.put("a", versioned("14", "Downloading"))  # and moves on
    assert [job.status["secondaryStatus"] for job in index.in_region("us-east-1")] == [
        "Downloading"
    ]
    index.created(versioned("12", "Starting"))  # the watch was quicker: it knows better
    assert [job.resource_version for job in index.in_region("us-east-1")] == ["14"]
    index.forget("a")  # deleted
    index.put("a", None)
    assert index.in_region("us-east-1") == []
