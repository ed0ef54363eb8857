"""ListTrainingJobs: every filter, sort order and paging rule, quirks included."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest

from sagemaker_operator.emulator import testing
from tests.emulator.jobs import error_of, request, wait_for, wait_status
from tests.emulator.process import command
from tests.plugins.emulator import client_for

NAMES = ["alpha-1", "beta-2", "Gamma-3", "delta-4", "epsilon-5"]
LONG = {"duration-seconds": "1e6"}


def names(answer: dict[str, Any]) -> list[str]:
    return [s["TrainingJobName"] for s in answer["TrainingJobSummaries"]]


def walk(client: Any, **params: Any) -> list[dict[str, Any]]:
    """Every page of a query, following NextToken to the end."""
    pages = [client.list_training_jobs(**params)]
    while "NextToken" in pages[-1]:
        pages.append(client.list_training_jobs(NextToken=pages[-1]["NextToken"], **params))
    return pages


@pytest.fixture
def five(sagemaker_client: Any) -> dict[str, dict[str, Any]]:
    """Five jobs created in NAMES order: the last one fails, the others run for ever."""
    for name in NAMES[:-1]:
        sagemaker_client.create_training_job(**request(name, fate=LONG))
    sagemaker_client.create_training_job(**request(NAMES[-1], fate={"outcome": "Failed"}))
    wait_status(sagemaker_client, NAMES[-1], "Failed")
    for name in NAMES[:-1]:  # settled in Training, so LastModifiedTime stays put

        def describe(name: str = name) -> dict[str, Any]:
            described: dict[str, Any] = sagemaker_client.describe_training_job(TrainingJobName=name)
            return described

        wait_for(describe, lambda d: d["SecondaryStatus"] == "Training")
    return {n: sagemaker_client.describe_training_job(TrainingJobName=n) for n in NAMES}


def test_defaults_are_creation_time_ascending_ten_per_page(
    sagemaker_client: Any, five: dict[str, Any]
) -> None:
    answer = sagemaker_client.list_training_jobs()
    assert names(answer) == NAMES
    assert "NextToken" not in answer
    for i in range(12):
        sagemaker_client.create_training_job(**request(f"more-{i:02d}"))
    first = sagemaker_client.list_training_jobs()
    assert len(first["TrainingJobSummaries"]) == 10
    assert "NextToken" in first


def test_summaries_match_describe(sagemaker_client: Any, five: dict[str, Any]) -> None:
    summaries = {
        s["TrainingJobName"]: s
        for s in sagemaker_client.list_training_jobs()["TrainingJobSummaries"]
    }
    for name, described in five.items():
        summary = summaries[name]
        for member in (
            "TrainingJobArn",
            "CreationTime",
            "LastModifiedTime",
            "TrainingJobStatus",
            "SecondaryStatus",
        ):
            assert summary[member] == described[member], (name, member)
    assert summaries["epsilon-5"]["TrainingEndTime"] == five["epsilon-5"]["TrainingEndTime"]
    assert "TrainingEndTime" not in summaries["alpha-1"]


@pytest.mark.parametrize(
    ("sort_by", "order", "expected"),
    [
        ("Name", "Ascending", sorted(NAMES)),
        ("Name", "Descending", sorted(NAMES, reverse=True)),
        ("CreationTime", "Ascending", NAMES),
        ("CreationTime", "Descending", NAMES[::-1]),
        ("Status", "Ascending", ["epsilon-5", *NAMES[:-1]]),  # Failed < InProgress
        ("Status", "Descending", [*NAMES[-2::-1], "epsilon-5"]),
    ],
)
def test_sorting(
    sagemaker_client: Any, five: dict[str, Any], sort_by: str, order: str, expected: list[str]
) -> None:
    assert names(sagemaker_client.list_training_jobs(SortBy=sort_by, SortOrder=order)) == expected
    paged = walk(sagemaker_client, SortBy=sort_by, SortOrder=order, MaxResults=2)
    assert [n for p in paged for n in names(p)] == expected


def test_creation_time_filters_are_strict(sagemaker_client: Any, five: dict[str, Any]) -> None:
    second, fourth = five["beta-2"]["CreationTime"], five["delta-4"]["CreationTime"]
    assert names(sagemaker_client.list_training_jobs(CreationTimeAfter=second)) == NAMES[2:]
    assert names(sagemaker_client.list_training_jobs(CreationTimeBefore=fourth)) == NAMES[:3]
    both = sagemaker_client.list_training_jobs(CreationTimeAfter=second, CreationTimeBefore=fourth)
    assert names(both) == ["Gamma-3"]


def test_last_modified_filters_see_a_stop(sagemaker_client: Any, five: dict[str, Any]) -> None:
    latest = max(d["LastModifiedTime"] for d in five.values())
    assert names(sagemaker_client.list_training_jobs(LastModifiedTimeAfter=latest)) == []
    sagemaker_client.stop_training_job(TrainingJobName="beta-2")
    changed = sagemaker_client.list_training_jobs(LastModifiedTimeAfter=latest)
    assert names(changed) == ["beta-2"]
    assert changed["TrainingJobSummaries"][0]["TrainingJobStatus"] == "Stopping"
    before = sagemaker_client.list_training_jobs(
        LastModifiedTimeBefore=latest + datetime.timedelta(microseconds=1)
    )
    assert names(before) == [n for n in NAMES if n != "beta-2"]


def test_name_contains_is_case_insensitive(sagemaker_client: Any, five: dict[str, Any]) -> None:
    assert names(sagemaker_client.list_training_jobs(NameContains="GAMMA")) == ["Gamma-3"]
    assert names(sagemaker_client.list_training_jobs(NameContains="a-")) == NAMES[:4]
    assert names(sagemaker_client.list_training_jobs(NameContains="zeta")) == []


def test_status_equals(sagemaker_client: Any, five: dict[str, Any]) -> None:
    assert names(sagemaker_client.list_training_jobs(StatusEquals="Failed")) == ["epsilon-5"]
    assert names(sagemaker_client.list_training_jobs(StatusEquals="InProgress")) == NAMES[:4]
    assert names(sagemaker_client.list_training_jobs(StatusEquals="Completed")) == []


def test_status_is_filtered_after_reading_so_pages_can_be_empty(
    sagemaker_client: Any, five: dict[str, Any]
) -> None:
    pages = walk(sagemaker_client, StatusEquals="Failed", MaxResults=2)
    assert [names(p) for p in pages] == [[], [], ["epsilon-5"]]
    assert all("NextToken" in p for p in pages[:-1])
    assert "NextToken" not in pages[-1]


def test_paging_returns_each_job_once_even_while_jobs_are_created(
    sagemaker_client: Any, five: dict[str, Any]
) -> None:
    first = sagemaker_client.list_training_jobs(MaxResults=2)
    assert names(first) == NAMES[:2]
    sagemaker_client.create_training_job(**request("late-6"))
    rest = [first]
    while "NextToken" in rest[-1]:
        rest.append(
            sagemaker_client.list_training_jobs(MaxResults=2, NextToken=rest[-1]["NextToken"])
        )
    assert [n for p in rest for n in names(p)] == [*NAMES, "late-6"]
    assert [len(p["TrainingJobSummaries"]) for p in rest] == [2, 2, 2]


def test_boto3_paginator_walks_every_page(sagemaker_client: Any, five: dict[str, Any]) -> None:
    paginator = sagemaker_client.get_paginator("list_training_jobs")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 2}))
    assert len(pages) == 3
    assert [n for p in pages for n in names(p)] == NAMES


def test_a_token_only_fits_its_own_query(sagemaker_client: Any, five: dict[str, Any]) -> None:
    token = sagemaker_client.list_training_jobs(MaxResults=2)["NextToken"]
    code, message, status = error_of(
        sagemaker_client.list_training_jobs, NextToken=token, SortBy="Name"
    )
    assert (code, status) == ("ValidationException", 400)
    assert "'nextToken'" in message
    # The page size may change mid-walk, the filters may not.
    assert names(sagemaker_client.list_training_jobs(NextToken=token, MaxResults=3)) == NAMES[2:]


def test_warm_pool_status_equals(sagemaker_client: Any) -> None:
    config = {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10}
    sagemaker_client.create_training_job(
        **request("pooled", ResourceConfig=config | {"KeepAlivePeriodInSeconds": 3600})
    )
    sagemaker_client.create_training_job(**request("plain"))
    wait_status(sagemaker_client, "pooled", "Completed")
    wait_status(sagemaker_client, "plain", "Completed")
    available = sagemaker_client.list_training_jobs(WarmPoolStatusEquals="Available")
    assert names(available) == ["pooled"]
    assert available["TrainingJobSummaries"][0]["WarmPoolStatus"] == {"Status": "Available"}
    assert names(sagemaker_client.list_training_jobs(WarmPoolStatusEquals="Terminated")) == []


def test_training_plan_filter_matches_no_emulated_job(
    sagemaker_client: Any, five: dict[str, Any]
) -> None:
    plan = "arn:aws:sagemaker:us-east-1:123456789012:training-plan/plan"
    assert names(sagemaker_client.list_training_jobs(TrainingPlanArnEquals=plan)) == []


def test_an_empty_account_lists_nothing(sagemaker_client: Any) -> None:
    assert sagemaker_client.list_training_jobs()["TrainingJobSummaries"] == []


# -- an account with a past, and the filters SageMaker applies after reading a page ---------


def test_last_modified_after_is_applied_after_reading_each_page(
    sagemaker_emulator: testing.Running, sagemaker_client: Any
) -> None:
    """aws/aws-cli#7596, aws/aws-sdk#486: pages of nothing, each with a token, to the end."""
    sagemaker_emulator.admin.seed_history(250)
    recent = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    pages = walk(sagemaker_client, LastModifiedTimeAfter=recent, MaxResults=100)
    assert [len(p["TrainingJobSummaries"]) for p in pages] == [0, 0, 0]
    assert ["NextToken" in p for p in pages] == [True, True, False]


def test_name_contains_is_applied_after_reading_each_page(
    sagemaker_emulator: testing.Running, sagemaker_client: Any
) -> None:
    """boto3#3347, sagemaker-python-sdk#4410: NameContains also pages through everything."""
    sagemaker_emulator.admin.seed_history(150)
    sagemaker_client.create_training_job(**request("needle-1"))
    pages = walk(sagemaker_client, NameContains="NEEDLE", MaxResults=100)
    assert [names(p) for p in pages] == [[], ["needle-1"]]


def test_creation_time_after_bounds_the_scan(
    sagemaker_emulator: testing.Running, sagemaker_client: Any
) -> None:
    """aws/aws-sdk-net#926: CreationTimeAfter filters as expected; the past is not read."""
    sagemaker_emulator.admin.seed_history(500)
    before = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)
    for i in range(3):
        sagemaker_client.create_training_job(**request(f"new-{i}"))
    pages = walk(sagemaker_client, CreationTimeAfter=before, MaxResults=100)
    assert [names(p) for p in pages] == [["new-0", "new-1", "new-2"]]
    recent = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    both = walk(sagemaker_client, CreationTimeAfter=before, LastModifiedTimeAfter=recent)
    assert sum(len(p["TrainingJobSummaries"]) for p in both) == 3


def test_seeded_history_is_finished_untagged_and_older_than_now(
    sagemaker_emulator: testing.Running, sagemaker_client: Any
) -> None:
    assert sagemaker_emulator.admin.seed_history(120) == 120
    summaries = [
        s for p in walk(sagemaker_client, MaxResults=100) for s in p["TrainingJobSummaries"]
    ]
    assert len(summaries) == 120
    created = [s["CreationTime"] for s in summaries]
    assert created == sorted(created)
    assert max(s["LastModifiedTime"] for s in summaries) < datetime.datetime.now(datetime.UTC)
    statuses = {s["TrainingJobStatus"] for s in summaries}
    assert statuses == {"Completed", "Failed", "Stopped"}
    failed = next(s for s in summaries if s["TrainingJobStatus"] == "Failed")
    described = sagemaker_client.describe_training_job(TrainingJobName=failed["TrainingJobName"])
    assert described["FailureReason"].startswith("AlgorithmError")
    assert sagemaker_client.list_tags(ResourceArn=failed["TrainingJobArn"])["Tags"] == []
    # Seeding again adds new names, never replaces the old ones.
    assert sagemaker_emulator.admin.seed_history(5) == 5
    assert (
        sum(len(p["TrainingJobSummaries"]) for p in walk(sagemaker_client, MaxResults=100)) == 125
    )


def test_the_history_flag_seeds_the_default_region(tmp_path: Path) -> None:
    with command(tmp_path / "emulator.log", "--history=230", "--region=eu-west-1") as url:
        client = client_for(url, region="eu-west-1")
        pages = walk(client, MaxResults=100)
        assert [len(p["TrainingJobSummaries"]) for p in pages] == [100, 100, 30]
        assert client_for(url).list_training_jobs()["TrainingJobSummaries"] == []
