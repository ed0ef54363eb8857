"""One region's poller, cycle by cycle, against scripted ListTrainingJobs pages and Describes.

The fake is the poller's own port (``ports.Listing``), answering in order and raising what
the real client raises (botocore's exceptions through ``errors.classify``).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from sagemaker_operator.controller import observation, owned
from sagemaker_operator.sagemaker import errors
from tests.reconciler.table import NOT_FOUND, THROTTLED, client_error

REGION = "us-east-1"
T0 = datetime.datetime(2026, 12, 1, 10, 0, tzinfo=datetime.UTC)
DENIED = client_error("AccessDeniedException", "not authorized")


def summary(name: str, secondary: str, minute: int) -> dict[str, Any]:
    return {
        "TrainingJobName": name,
        "TrainingJobStatus": "InProgress",
        "SecondaryStatus": secondary,
        "LastModifiedTime": T0 + datetime.timedelta(minutes=minute),
    }


def page(*summaries: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    return {"TrainingJobSummaries": list(summaries), **({"NextToken": token} if token else {})}


@dataclass
class FakeListing:
    pages: list[Any]
    descriptions: dict[str, list[Any]] = field(default_factory=dict)
    region: str = REGION
    calls: list[tuple[str, str]] = field(default_factory=list)

    async def list_page(self, **params: Any) -> Mapping[str, Any]:
        self.calls.append(("list", str(params.get("NextToken", ""))))
        return self._answer(self.pages.pop(0))

    async def describe(self, job_name: str) -> Mapping[str, Any]:
        self.calls.append(("describe", job_name))
        return self._answer(self.descriptions[job_name].pop(0))

    @staticmethod
    def _answer(answer: Any) -> Mapping[str, Any]:
        if isinstance(answer, Exception):
            raise errors.classify(answer) from answer
        result: Mapping[str, Any] = answer
        return result


def job(uid: str, name: str, secondary: str = "Training") -> owned.OwnedJob | None:
    status = {
        "trainingJobName": name,
        "trainingJobArn": f"arn:{name}",
        "region": REGION,
        "phase": "InProgress",
        "trainingJobStatus": "InProgress",
        "secondaryStatus": secondary,
        "lastModifiedTime": "2026-12-01T10:00:00Z",
    }
    meta = {"generation": 1, "creationTimestamp": "2026-12-01T09:00:00Z"}
    return owned.record_of(namespace="ns", name=uid, uid=uid, meta=meta, status=status)


@dataclass
class Applied:
    seen: list[tuple[str, str | None]] = field(default_factory=list)
    fail_for: set[str] = field(default_factory=set)

    async def __call__(self, job: owned.OwnedJob, description: Mapping[str, Any] | None) -> None:
        if job.uid in self.fail_for:
            raise RuntimeError("429 from the API server")
        self.seen.append((job.uid, None if description is None else description["SecondaryStatus"]))


def poller(
    listing: FakeListing, *jobs: owned.OwnedJob | None, full: bool = False
) -> tuple[observation.RegionPoller, Applied]:
    index = owned.OwnedIndex()
    for found in jobs:
        assert found is not None
        index.put(found.uid, found)
    applied = Applied()
    made = observation.RegionPoller(
        listing,
        index,
        applied,
        interval=10,
        concurrency=4,
        full_sweep_interval=0 if full else 3600,
        skew=0,
        page_retry_seconds=0,
    )
    return made, applied


def described(name: str, secondary: str) -> dict[str, Any]:
    return {
        "TrainingJobName": name,
        "TrainingJobStatus": "InProgress",
        "SecondaryStatus": secondary,
    }


async def test_only_changed_jobs_are_described() -> None:
    listing = FakeListing(
        [page(summary("a", "Uploading", 5), summary("b", "Training", 0))],
        {"a": [described("a", "Uploading")]},
    )
    made, applied = poller(listing, job("ua", "a"), job("ub", "b"))
    assert await made.cycle() == 1
    assert listing.calls == [("list", ""), ("describe", "a")]
    assert applied.seen == [("ua", "Uploading")]


async def test_nothing_running_costs_no_call() -> None:
    listing = FakeListing([])
    made, _ = poller(listing)
    assert await made.cycle() == 0
    assert listing.calls == []


async def test_a_throttled_page_is_retried_where_it_failed() -> None:
    listing = FakeListing(
        [page(summary("a", "Uploading", 5), token="p2"), THROTTLED, page(summary("b", "Done", 6))],
        {"a": [described("a", "Uploading")], "b": [described("b", "Done")]},
    )
    made, applied = poller(listing, job("ua", "a"), job("ub", "b"))
    assert await made.cycle() == 2
    lists = [call for call in listing.calls if call[0] == "list"]
    assert lists == [("list", ""), ("list", "p2"), ("list", "p2")]  # page 1 read once
    assert sorted(applied.seen) == [("ua", "Uploading"), ("ub", "Done")]


async def test_a_page_that_keeps_failing_keeps_what_earlier_pages_found() -> None:
    attempts = observation.PAGE_ATTEMPTS
    listing = FakeListing(
        [page(summary("a", "Uploading", 5), token="p2"), *[THROTTLED] * attempts],
        {"a": [described("a", "Uploading")]},
    )
    made, applied = poller(listing, job("ua", "a"), job("ub", "b"))
    with pytest.raises(errors.ThrottlingError):
        await made.cycle()
    assert applied.seen == [("ua", "Uploading")]  # page 1's change is not thrown away
    # The window did not move: the next cycle lists from the same start again.
    listing.pages = [page()]
    assert await made.cycle() == 0
    assert listing.calls[-1] == ("list", "")


async def test_the_full_sweep_describes_vanished_jobs() -> None:
    listing = FakeListing([page(summary("a", "Training", 0))], {"b": [NOT_FOUND]})
    made, applied = poller(listing, job("ua", "a"), job("ub", "b"), full=True)
    assert await made.cycle() == 1
    assert ("describe", "b") in listing.calls
    assert applied.seen == [("ub", None)]  # SageMaker no longer knows it


async def test_one_jobs_refused_describe_costs_only_that_job() -> None:
    listing = FakeListing(
        [page(summary("a", "Uploading", 5), summary("b", "Uploading", 5))],
        {"a": [DENIED], "b": [described("b", "Uploading")]},
    )
    made, applied = poller(listing, job("ua", "a"), job("ub", "b"))
    assert await made.cycle() == 2
    assert applied.seen == [("ub", "Uploading")]
    # The refused job stays uncovered: the next window reaches back to it and describes again.
    listing.pages = [page(summary("a", "Uploading", 5))]
    listing.descriptions["a"] = [described("a", "Uploading")]
    await made.cycle()
    assert applied.seen[-1] == ("ua", "Uploading")


async def test_a_failed_status_write_is_retried_next_cycle() -> None:
    listing = FakeListing(
        [page(summary("a", "Uploading", 5), summary("b", "Uploading", 5))],
        {"a": [described("a", "Uploading")], "b": [described("b", "Uploading")]},
    )
    made, applied = poller(listing, job("ua", "a"), job("ub", "b"))
    applied.fail_for = {"ua"}
    await made.cycle()
    assert applied.seen == [("ub", "Uploading")]
    applied.fail_for = set()
    listing.pages = [page(summary("a", "Uploading", 5))]
    listing.descriptions["a"] = [described("a", "Uploading")]
    await made.cycle()
    assert applied.seen[-1] == ("ua", "Uploading")


async def test_when_every_describe_fails_the_cycle_fails() -> None:
    listing = FakeListing([page(summary("a", "Uploading", 5))], {"a": [THROTTLED]})
    made, _ = poller(listing, job("ua", "a"))
    with pytest.raises(errors.ThrottlingError):
        await made.cycle()


async def test_two_resources_naming_one_job_are_each_judged() -> None:
    listing = FakeListing(
        [page(summary("a", "Uploading", 5))],
        {"a": [described("a", "Uploading"), described("a", "Uploading")]},
    )
    made, applied = poller(listing, job("ua", "a"), job("forger", "a"))
    assert await made.cycle() == 2
    assert sorted(applied.seen) == [("forger", "Uploading"), ("ua", "Uploading")]


def test_a_cycle_longer_than_the_interval_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    made, _ = poller(FakeListing([]))
    with caplog.at_level(logging.WARNING, logger=observation.__name__):
        made.finished(5.0, 3)
        assert caplog.records == []
        made.finished(12.5, 3)
    (record,) = caplog.records
    assert "cycle took 12.5s (3 jobs described), longer than the 10s interval" in record.message


async def test_throttles_are_counted_and_said_once_per_cycle_at_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    listing = FakeListing(
        [THROTTLED, page(summary("a", "Uploading", 5), summary("b", "Uploading", 5))],
        {"a": [THROTTLED], "b": [described("b", "Uploading")]},
    )
    made, _ = poller(listing, job("ua", "a"), job("ub", "b"))
    with caplog.at_level(logging.INFO, logger=observation.__name__):
        await made.cycle()
        made.finished(1.0, 2)
    assert [r.levelno for r in caplog.records] == [logging.INFO, logging.INFO]
    assert "2 calls throttled this cycle" in caplog.records[-1].message
    assert made.throttled == 0  # counted afresh next cycle


@pytest.mark.parametrize(
    ("failures", "delay"), [(1, 10.0), (2, 20.0), (3, 30.0), (4, 30.0), (50, 30.0)]
)
def test_a_failing_loop_waits_at_most_a_few_intervals(failures: int, delay: float) -> None:
    assert observation.loop_delay(failures, 10.0, 1.0) == delay
    assert observation.loop_delay(failures, 10.0, 0.5) == delay / 2
