"""One region's poller, cycle by cycle, against scripted ListTrainingJobs pages and Describes.

The fake is the poller's own port (``ports.Listing``), answering in order and raising what
the real client raises (botocore's exceptions through ``errors.classify``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import pytest
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import MaxRetryError

from sagemaker_operator.controller import observation, owned, window_hints
from sagemaker_operator.controller.proofs import Proofs
from sagemaker_operator.names import TAG_UID
from sagemaker_operator.sagemaker import errors
from tests.reconciler.table import INTERNAL, NOT_FOUND, THROTTLED, client_error

REGION = "us-east-1"
T0 = datetime.datetime(2026, 12, 1, 10, 0, tzinfo=datetime.UTC)
DENIED = client_error("AccessDeniedException", "not authorized")


def summary(name: str, secondary: str, minute: int, status: str = "InProgress") -> dict[str, Any]:
    return {
        "TrainingJobName": name,
        "TrainingJobArn": f"arn:{name}",
        "TrainingJobStatus": status,
        "SecondaryStatus": secondary,
        "LastModifiedTime": T0 + datetime.timedelta(minutes=minute),
    }


def ended(name: str, minute: int) -> dict[str, Any]:
    """The summary of a job that completed: only a Describe tells its outputs."""
    return summary(name, "Completed", minute, status="Completed")


def page(*summaries: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    return {"TrainingJobSummaries": list(summaries), **({"NextToken": token} if token else {})}


@dataclass
class FakeListing:
    pages: list[Any]
    descriptions: dict[str, list[Any]] = field(default_factory=dict)
    region: str = REGION
    calls: list[tuple[str, str]] = field(default_factory=list)
    params: list[dict[str, Any]] = field(default_factory=list)

    async def list_page(self, **params: Any) -> Mapping[str, Any]:
        self.calls.append(("list", str(params.get("NextToken", ""))))
        self.params.append(params)
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


def job(
    uid: str, name: str, secondary: str = "Training", created: str | None = None
) -> owned.OwnedJob | None:
    status = {
        "trainingJobName": name,
        "trainingJobArn": f"arn:{name}",
        "region": REGION,
        "phase": "InProgress",
        "trainingJobStatus": "InProgress",
        "secondaryStatus": secondary,
        "lastModifiedTime": "2026-12-01T10:00:00Z",
        **({"creationTime": created} if created else {}),
        "secondaryStatusTransitions": [{"status": secondary}],  # a Describe wrote it
    }
    meta = {"generation": 1, "creationTimestamp": "2026-12-01T09:00:00Z"}
    return owned.record_of(namespace="ns", name=uid, uid=uid, meta=meta, status=status)


def shown_from_summary(uid: str, name: str, secondary: str) -> owned.OwnedJob:
    """A job whose status a summary wrote (its transitions lag): it still owes a Describe."""
    shown = job(uid, name, secondary)
    assert shown is not None
    return dataclasses.replace(
        shown, status={**shown.status, "secondaryStatusTransitions": [{"status": "Starting"}]}
    )


@dataclass
class Applied:
    seen: list[tuple[str, str | None]] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)  # "summary" or "described", per write
    fail_for: set[str] = field(default_factory=set)
    error: Exception = field(default_factory=lambda: RuntimeError("429 from the API server"))

    async def __call__(self, job: owned.OwnedJob, description: Mapping[str, Any] | None) -> None:
        if job.uid in self.fail_for:
            raise self.error
        self.seen.append((job.uid, None if description is None else description["SecondaryStatus"]))
        full = description is None or "TrainingTimeInSeconds" in description
        self.kinds.append("described" if full else "summary")


def poller(
    listing: FakeListing,
    *jobs: owned.OwnedJob | None,
    full: bool = False,
    interval: float = 10,
    index: owned.OwnedIndex | None = None,
) -> tuple[observation.RegionPoller, Applied]:
    """A poller over ``jobs``, in ``index`` if given (a row that writes the index meanwhile)."""
    index = owned.OwnedIndex() if index is None else index
    for found in jobs:
        assert found is not None
        index.put(found.uid, found)
    applied = Applied()
    made = observation.RegionPoller(
        listing,
        index,
        applied,
        interval=interval,
        concurrency=4,
        full_sweep_interval=0 if full else 3600,
        skew=0,
        page_retry_seconds=0,
    )
    return made, applied


def described(name: str, secondary: str, status: str | None = None) -> dict[str, Any]:
    return {
        "TrainingJobName": name,
        "TrainingJobArn": f"arn:{name}",
        "TrainingJobStatus": status or ("Completed" if secondary == "Completed" else "InProgress"),
        "SecondaryStatus": secondary,
        "TrainingTimeInSeconds": 60,  # a member only a Describe has
    }


async def test_only_changed_jobs_are_described() -> None:
    listing = FakeListing(
        [page(ended("a", 5), summary("b", "Training", 0))],
        {"a": [described("a", "Completed")]},
    )
    made, applied = poller(listing, job("ua", "a"), job("ub", "b"))
    assert await made.cycle() == 1
    assert listing.calls == [("list", ""), ("describe", "a")]
    assert applied.seen == [("ua", "Completed")]
    assert applied.kinds == ["described"]


async def test_a_job_in_progress_is_shown_from_its_summary_then_described() -> None:
    listing = FakeListing(
        [page(summary("a", "Downloading", 5))], {"a": [described("a", "Downloading")]}
    )
    made, applied = poller(listing, job("ua", "a", "Starting"))
    assert await made.cycle() == 1
    # The summary is written first (no call), then the owed Describe completes the status.
    assert applied.seen == [("ua", "Downloading"), ("ua", "Downloading")]
    assert applied.kinds == ["summary", "described"]
    assert listing.calls == [("list", ""), ("describe", "a")]


async def test_an_owed_describe_waits_for_a_cycle_with_time_left() -> None:
    attempts = observation.PAGE_ATTEMPTS
    listing = FakeListing(
        [page(summary("a", "Downloading", 5))],
        {"a": [*[THROTTLED] * attempts, described("a", "Downloading")]},
    )
    made, applied = poller(listing, job("ua", "a", "Starting"))
    await made.cycle()
    assert applied.kinds == ["summary"]  # every try of the Describe was throttled: still owed
    listing.pages = [page()]
    await made.cycle()
    assert applied.kinds == ["summary", "described"]
    assert listing.calls[-1] == ("describe", "a")


async def test_a_throttled_describe_is_tried_again_in_the_same_cycle() -> None:
    listing = FakeListing(
        [page(ended("a", 5))], {"a": [THROTTLED, THROTTLED, described("a", "Completed")]}
    )
    made, applied = poller(listing, job("ua", "a"))
    assert await made.cycle() == 1
    assert applied.seen == [("ua", "Completed")]
    assert listing.calls.count(("describe", "a")) == 3


@dataclass
class FakeTags:
    answers: list[Any]
    calls: int = 0

    def polling(self, region: str) -> FakeTags:
        return self

    async def tags(self, arn: str) -> dict[str, str]:
        self.calls += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise errors.classify(answer) from answer
        return cast(dict[str, str], answer)


@pytest.mark.parametrize(
    ("answers", "owns", "calls"),
    [
        ([THROTTLED, THROTTLED, {TAG_UID: "ua"}], True, 3),
        ([THROTTLED, {TAG_UID: "someone-else"}], False, 2),
    ],
)
async def test_a_throttled_ownership_look_up_is_tried_again_in_place(
    answers: list[Any], owns: bool, calls: int
) -> None:
    """After a restart each job's first write asks ListTags for its uid tag: in the fault run
    one throttle sent the job, its Describe already paid, to the next cycle."""
    tags = FakeTags(answers)
    runtime = SimpleNamespace(owned=owned.OwnedIndex(), clients=tags, proofs=Proofs(None))
    found = job("ua", "a")
    assert found is not None
    description = described("a", "Training")
    assert await observation.owns(cast(Any, runtime), found, description) is owns
    assert tags.calls == calls
    assert runtime.owned.vouched("ua", "arn:a") is owns  # asked once per process


async def test_an_ownership_look_up_that_keeps_failing_fails_its_write() -> None:
    tags = FakeTags([THROTTLED] * observation.PAGE_ATTEMPTS)
    runtime = SimpleNamespace(owned=owned.OwnedIndex(), clients=tags, proofs=Proofs(None))
    found = job("ua", "a")
    assert found is not None
    with pytest.raises(errors.ThrottlingError):
        await observation.owns(cast(Any, runtime), found, described("a", "Training"))
    assert tags.calls == observation.PAGE_ATTEMPTS


@pytest.mark.parametrize(
    ("proof_of", "calls"),
    [
        (("ua", "arn:a"), 0),  # this operator's proof for this resource and job
        (("ub", "arn:a"), 1),  # another resource's proof, copied in: ListTags decides
        (("ua", "arn:b"), 1),  # this resource's proof for another job
    ],
)
async def test_a_restart_trusts_only_its_own_proof_for_this_job(
    proof_of: tuple[str, str], calls: int
) -> None:
    proofs = Proofs(b"k" * 32)
    tags = FakeTags([{TAG_UID: "ua"}])
    runtime = SimpleNamespace(owned=owned.OwnedIndex(), clients=tags, proofs=proofs)
    plain = job("ua", "a")
    assert plain is not None
    found = dataclasses.replace(
        plain, status={**plain.status, "ownershipProof": proofs.seal(*proof_of)}
    )
    assert await observation.owns(cast(Any, runtime), found, described("a", "Training"))
    assert tags.calls == calls


async def test_a_failing_call_is_tried_six_times_with_pauses_capped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fault run's 25 % of failed calls must rarely fail a page outright, and a page's
    tries must not outlast the cycle's interval."""
    pauses: list[float] = []

    async def pause(seconds: float) -> None:  # the pauses are the subject, not the time
        pauses.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", pause)
    answers: list[Any] = [INTERNAL] * (observation.PAGE_ATTEMPTS - 1) + [page()]
    listing = FakeListing(answers)
    assert observation.PAGE_ATTEMPTS == 6
    assert await observation.retried(listing.list_page, retry_seconds=100) == page()
    assert len(listing.calls) == observation.PAGE_ATTEMPTS
    assert len(pauses) == observation.PAGE_ATTEMPTS - 1
    assert all(0 <= p <= observation.PAGE_RETRY_CAP_SECONDS for p in pauses)


async def test_an_ended_jobs_describe_goes_before_owed_ones() -> None:
    """Owed Describes (a job shown from its summary, owing its details) start none while a
    job that ended waits for its own: both draw on one Describe budget, and the end is what
    a person or a workflow waits on."""
    owed = [shown_from_summary(f"u{name}", name, "Training") for name in "abcdef"]
    done = job("uz", "z")
    assert done is not None
    in_flight = asyncio.Event()  # the payer's first Describes have begun
    listed = asyncio.Event()
    ended_done = asyncio.Event()
    started_while_ended_waited: list[str] = []

    class Listing(FakeListing):
        async def list_page(self, **params: Any) -> Mapping[str, Any]:
            await in_flight.wait()  # the page comes while the payer is at work
            listed.set()
            return await super().list_page(**params)

        async def describe(self, job_name: str) -> Mapping[str, Any]:
            if job_name == "z":
                # The budget's wait, as the loop sees it: a few turns before the answer.
                for _ in range(20):
                    await asyncio.sleep(0)
                ended_done.set()
            elif listed.is_set() and not ended_done.is_set():
                started_while_ended_waited.append(job_name)
            else:
                in_flight.set()
                await listed.wait()  # the first owed Describes are on the wire meanwhile
            return await super().describe(job_name)

    descriptions = {name: [described(name, "Training")] for name in "abcdef"}
    listing = Listing([page(ended("z", 5))], {**descriptions, "z": [described("z", "Completed")]})
    made, applied = poller(listing, *owed, done)
    await made.cycle()
    assert started_while_ended_waited == []
    assert ("uz", "Completed") in applied.seen
    assert {uid for uid, _ in applied.seen} == {"uz", *(j.uid for j in owed)}


@pytest.mark.parametrize(
    ("rewritten", "writes"),
    [
        (None, 0),  # the resource unchanged since: the listing's Training is applied already
        ("Training", 0),  # written again since, still showing Training: nothing to do
        ("Downloading", 1),  # a stale write landed over Training: applied again
    ],
)
async def test_a_change_applied_then_overwritten_is_applied_again(
    rewritten: str | None, writes: int
) -> None:
    """In the fault run at N = 10,000, a handler's write of a description read minutes
    before landed over the poller's `Training`; the poller remembered having applied it and
    judged every later listing of the job unchanged: 152 statuses `Downloading` for good."""
    before = job("ua", "a", "Downloading")
    assert before is not None
    before = dataclasses.replace(before, resource_version="1")
    training = {
        **described("a", "Training"),
        "LastModifiedTime": T0 + datetime.timedelta(minutes=5),
    }
    listing = FakeListing([page(summary("a", "Training", 5))], {"a": [training]})
    index = owned.OwnedIndex()
    made, applied = poller(listing, before, index=index)
    await made.cycle()
    assert applied.seen == [("ua", "Training"), ("ua", "Training")]  # summary, then Describe
    if rewritten is not None:
        since = job("ua", "a", rewritten)
        assert since is not None
        if rewritten == "Training":
            since = dataclasses.replace(
                since, status={**since.status, "lastModifiedTime": "2026-12-01T10:05:00Z"}
            )
        index.put("ua", dataclasses.replace(since, resource_version="2"))
    listing.pages = [page(summary("a", "Training", 5))]
    listing.descriptions["a"] = [training]
    await made.cycle()
    assert len(applied.seen) == 2 + 2 * writes
    modified_after = listing.params[-1].get("LastModifiedTimeAfter")
    if writes:  # the window reaches back to what the status shows, not the last cycle
        assert modified_after is not None
        assert modified_after <= datetime.datetime(2026, 12, 1, 10, 0, tzinfo=datetime.UTC)


async def test_a_status_from_a_summary_before_a_restart_is_described_once() -> None:
    from_summary = shown_from_summary("ua", "a", "Downloading")
    listing = FakeListing([page(), page()], {"a": [described("a", "Downloading")]})
    made, applied = poller(listing, from_summary)
    await made.cycle()
    assert applied.kinds == ["described"]
    await made.cycle()  # paid: not owed again
    assert listing.calls == [("list", ""), ("describe", "a"), ("list", "")]


async def test_a_job_that_ended_is_described_before_anything_is_written() -> None:
    listing = FakeListing([page(ended("a", 5))], {"a": [THROTTLED] * observation.PAGE_ATTEMPTS})
    made, applied = poller(listing, job("ua", "a"))
    with pytest.raises(errors.ThrottlingError):
        await made.cycle()
    assert applied.seen == []  # no Completed without its outputs


async def test_changes_the_events_consumer_wrote_during_the_listing_are_not_done_again() -> None:
    listing = FakeListing(
        [page(ended("a", 5), summary("b", "Training", 5), ended("c", 5))],
        {"c": [described("c", "Completed")]},
    )
    index = owned.OwnedIndex()
    made, applied = poller(listing, job("ua", "a"), job("ub", "b"), job("uc", "c"), index=index)
    listed = listing.list_page

    async def consumer_writes_meanwhile(**params: Any) -> Mapping[str, Any]:
        answer = await listed(**params)
        # The events of a and b are written while the page is read: a's the same change,
        # b's a newer one. c's event is not (lost, or still in the queue).
        for uid, secondary, status, minute in [
            ("ua", "Completed", "Completed", 5),
            ("ub", "Stopping", "Stopping", 6),
        ]:
            old = index.get(uid)
            assert old is not None
            written = {
                **old.status,
                "trainingJobStatus": status,
                "secondaryStatus": secondary,
                "lastModifiedTime": (T0 + datetime.timedelta(minutes=minute)).isoformat(),
            }
            index.put(uid, dataclasses.replace(old, status=written, resource_version="2"))
        return answer

    listing.list_page = consumer_writes_meanwhile  # type: ignore[method-assign]
    await made.cycle()
    assert listing.calls == [("list", ""), ("describe", "c")]
    assert applied.seen == [("uc", "Completed")]


async def test_nothing_running_costs_no_call() -> None:
    listing = FakeListing([])
    made, _ = poller(listing)
    assert await made.cycle() == 0
    assert listing.calls == []


async def test_the_listing_starts_at_the_oldest_running_job_never_the_account_past() -> None:
    listing = FakeListing([page(), page()])
    made, _ = poller(
        listing,
        job("ua", "a", created="2026-12-01T09:30:00Z"),
        job("ub", "b", created="2026-12-01T09:10:00Z"),
        job("uc", "c"),  # never described: its resource's creation bounds it
    )
    await made.cycle()
    (params,) = listing.params
    # A second before the oldest: SageMaker's CreationTimeAfter is strict.
    assert params["CreationTimeAfter"] == datetime.datetime(
        2026, 12, 1, 8, 59, 59, tzinfo=datetime.UTC
    )
    assert (params["SortBy"], params["SortOrder"]) == ("CreationTime", "Ascending")
    assert "LastModifiedTimeAfter" in params  # a recent cycle; filtered after each page
    listing.descriptions["b"] = [described("b", "Training")]  # the sweep did not see it
    made_full, _ = poller(listing, job("ub", "b", created="2026-12-01T09:10:00Z"), full=True)
    await made_full.cycle()
    assert listing.params[-1]["CreationTimeAfter"] == datetime.datetime(
        2026, 12, 1, 9, 9, 59, tzinfo=datetime.UTC
    )
    assert "LastModifiedTimeAfter" not in listing.params[-1]  # the sweep reads every summary


async def test_a_throttled_page_is_retried_where_it_failed() -> None:
    listing = FakeListing(
        [page(ended("a", 5), token="p2"), THROTTLED, page(ended("b", 6))],
        {"a": [described("a", "Completed")], "b": [described("b", "Completed")]},
    )
    made, applied = poller(listing, job("ua", "a"), job("ub", "b"))
    assert await made.cycle() == 2
    lists = [call for call in listing.calls if call[0] == "list"]
    assert lists == [("list", ""), ("list", "p2"), ("list", "p2")]  # page 1 read once
    assert sorted(applied.seen) == [("ua", "Completed"), ("ub", "Completed")]


async def test_a_throttled_page_waits_only_for_the_budget_and_a_failed_one_backs_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The client's budget already slowed and emptied the List bucket on the throttle, so the
    retry leaves after one token's time; only a server fault draws a jittered backoff."""
    backoffs: list[float] = []

    def uniform(low: float, high: float) -> float:
        backoffs.append(high)
        return 0.0

    monkeypatch.setattr(random, "uniform", uniform)
    listing = FakeListing([page(token="p2"), THROTTLED, page(token="p3"), INTERNAL, page()])
    made, _ = poller(listing, job("ua", "a"))
    await made.cycle()
    assert [call[1] for call in listing.calls] == ["", "p2", "p2", "p3", "p3"]
    assert len(backoffs) == 1  # the 500's, not the throttle's


async def test_a_page_that_keeps_failing_keeps_what_earlier_pages_found() -> None:
    attempts = observation.PAGE_ATTEMPTS
    listing = FakeListing(
        [page(ended("a", 5), token="p2"), *[THROTTLED] * attempts],
        {"a": [described("a", "Completed")]},
    )
    made, applied = poller(listing, job("ua", "a"), job("ub", "b"))
    with pytest.raises(errors.ThrottlingError):
        await made.cycle()
    assert applied.seen == [("ua", "Completed")]  # page 1's change is not thrown away
    # The window did not move: the next cycle lists from the same start again.
    listing.pages = [page()]
    assert await made.cycle() == 0
    assert listing.calls[-1] == ("list", "")
    assert listing.params[-1]["LastModifiedTimeAfter"] == listing.params[0]["LastModifiedTimeAfter"]


async def test_the_full_sweep_describes_vanished_jobs() -> None:
    listing = FakeListing([page(summary("a", "Training", 0))], {"b": [NOT_FOUND]})
    made, applied = poller(listing, job("ua", "a"), job("ub", "b"), full=True)
    assert await made.cycle() == 1
    assert ("describe", "b") in listing.calls
    assert applied.seen == [("ub", None)]  # SageMaker no longer knows it


async def test_one_jobs_refused_describe_costs_only_that_job() -> None:
    listing = FakeListing(
        [page(ended("a", 5), ended("b", 5))],
        {"a": [DENIED], "b": [described("b", "Completed")]},
    )
    made, applied = poller(listing, job("ua", "a"), job("ub", "b"))
    assert await made.cycle() == 2
    assert applied.seen == [("ub", "Completed")]
    # The refused job stays uncovered: the next window reaches back to it and describes again.
    listing.pages = [page(ended("a", 5))]
    listing.descriptions["a"] = [described("a", "Completed")]
    await made.cycle()
    assert applied.seen[-1] == ("ua", "Completed")


async def test_a_failed_status_write_is_retried_next_cycle() -> None:
    listing = FakeListing(
        [page(summary("a", "Uploading", 5), summary("b", "Uploading", 5))],
        {"a": [described("a", "Uploading")], "b": [described("b", "Uploading")]},
    )
    made, applied = poller(listing, job("ua", "a"), job("ub", "b"))
    applied.fail_for = {"ua"}
    await made.cycle()
    assert applied.seen == [("ub", "Uploading"), ("ub", "Uploading")]
    applied.fail_for = set()
    listing.pages = [page(summary("a", "Uploading", 5))]
    await made.cycle()
    assert ("ua", "Uploading") in applied.seen


@pytest.mark.parametrize(
    ("error", "level", "said"),
    [
        (ApiException(status=409, reason="Conflict"), logging.INFO, "Kubernetes API: 409 Conflict"),
        (ApiException(status=500, reason="Internal"), logging.WARNING, "Kubernetes API: 500"),
        (RuntimeError("boom"), logging.WARNING, "boom"),
        (
            MaxRetryError(cast(Any, None), "/apis", reason=None),
            logging.WARNING,
            "Kubernetes API unreachable: MaxRetryError",
        ),
    ],
)
async def test_a_failed_write_is_said_in_one_line_and_a_conflict_is_weather(
    error: Exception, level: int, said: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A 409 means a handler wrote the resource meanwhile: the fault run logged hundreds of
    them at WARNING, each with the API server's headers and body."""
    listing = FakeListing(
        [page(summary("a", "Uploading", 5), summary("b", "Uploading", 5))],
        {"a": [described("a", "Uploading")], "b": [described("b", "Uploading")]},
    )
    made, applied = poller(listing, job("ua", "a"), job("ub", "b"))
    applied.fail_for = {"ua"}
    applied.error = error
    with caplog.at_level(logging.INFO, logger=observation.__name__):
        await made.cycle()
    (line,) = [r for r in caplog.records if "not updated" in r.message]
    assert line.levelno == level
    assert f"1 of 2 jobs not updated ({said}" in line.message
    assert "\n" not in line.message


@pytest.mark.parametrize("fault", ["throttled pages", "API server unreachable"])
async def test_a_failed_cycle_is_a_known_fault_and_the_loop_goes_on(
    fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The fault run's API-server restart failed every write of a cycle with urllib3's
    MaxRetryError: a known fault, said in one line, never "unexpected error"."""
    first = [THROTTLED] * observation.PAGE_ATTEMPTS if fault == "throttled pages" else []
    listing = FakeListing(
        [*first, *[page(summary("a", "Uploading", 5))] * 3],
        {"a": [described("a", "Uploading")] * 3},
    )
    made, applied = poller(listing, job("ua", "a"), interval=0.01)
    if fault == "API server unreachable":
        applied.fail_for = {"ua"}
        applied.error = MaxRetryError(cast(Any, None), "/apis", reason=None)
    failed, recovered = asyncio.Event(), asyncio.Event()
    cycle = made.cycle

    async def watched() -> int:
        try:
            done = await cycle()
        except Exception:
            failed.set()
            applied.fail_for = set()  # the API server is back
            raise
        if failed.is_set():
            recovered.set()
        return done

    made.cycle = watched  # type: ignore[method-assign]
    with caplog.at_level(logging.INFO, logger=observation.__name__):
        loop = asyncio.create_task(made.run_forever())
        try:
            async with asyncio.timeout(5):
                await recovered.wait()
            assert not loop.done()
        finally:
            loop.cancel()
            await asyncio.gather(loop, return_exceptions=True)
    assert applied.seen[0] == ("ua", "Uploading")
    assert not [r for r in caplog.records if "unexpected" in r.message]
    said = [r.message for r in caplog.records if "next try in" in r.message]
    assert said
    assert all("\n" not in line for line in said)


async def test_when_every_describe_fails_the_cycle_fails() -> None:
    listing = FakeListing([page(ended("a", 5))], {"a": [THROTTLED] * observation.PAGE_ATTEMPTS})
    made, _ = poller(listing, job("ua", "a"))
    with pytest.raises(errors.ThrottlingError):
        await made.cycle()


async def test_two_resources_naming_one_job_are_each_judged() -> None:
    listing = FakeListing(
        [page(ended("a", 5))],
        {"a": [described("a", "Completed"), described("a", "Completed")]},
    )
    made, applied = poller(listing, job("ua", "a"), job("forger", "a"))
    assert await made.cycle() == 2
    assert sorted(applied.seen) == [("forger", "Completed"), ("ua", "Completed")]


def names(count: int, prefix: str = "other") -> list[str]:
    return [f"{prefix}-{i}" for i in range(count)]


@pytest.mark.parametrize(
    ("seen", "listed", "direct"),
    [
        # A week-long job, then 5,000 other jobs, then 300 of ours: describe the old one,
        # list from the next one of ours.
        (["old", *names(5000), *names(300, "ours")], ["old", *names(300, "ours")], {"old"}),
        # The same with one young job: describing both beats a page a cycle.
        (["old", *names(5000), "young"], ["old", "young"], {"old", "young"}),
        # 1,000 running jobs of ours and nothing else: 10 pages beat 400 Describe-pages.
        (names(1000, "ours"), names(1000, "ours"), set()),
        # Three jobs in one page: listing costs a page, describing them 1.2; no split.
        (["a", "b", "c"], ["a", "b", "c"], set()),
        # Two old ones, 300 others, then ours: both old ones described.
        (["a", "b", *names(300), *names(50, "ours")], ["a", "b", *names(50, "ours")], {"a", "b"}),
        # Saves less than a page a cycle: not worth a change.
        (["a", *names(90), "b"], ["a", "b"], set()),
    ],
)
def test_the_oldest_jobs_are_described_where_that_costs_fewer_pages(
    seen: list[str], listed: list[str], direct: set[str]
) -> None:
    jobs = [job(f"u-{name}", name) for name in listed]
    chosen = observation.split([j for j in jobs if j is not None], seen, describe_weight=0.4)
    assert chosen == {f"u-{name}" for name in direct}


async def test_a_job_moved_to_direct_describes_is_no_longer_listed_from() -> None:
    old = job("uold", "old", created="2026-11-24T10:00:00Z")  # a week-long run
    young = [job(f"u{n}", n, created="2026-12-01T09:59:00Z") for n in names(30, "young")]
    sweep = [page(summary("old", "Training", 0), *[ended(n, 0) for n in names(99)], token="2")]
    sweep += [page(*[ended(n, 0) for n in names(100, "more")], token="3")]
    sweep += [page(*[summary(n, "Training", 0) for n in names(30, "young")])]
    listing = FakeListing(sweep, {"old": [described("old", "Training")]})
    made, _ = poller(listing, old, *young, full=True)
    await made.cycle()
    assert len(listing.params) == 3  # the sweep read all that was created since the old job
    listing.pages = [page(*[summary(n, "Training", 0) for n in names(30, "young")])]
    await made.cycle()
    assert listing.params[-1]["CreationTimeAfter"] == datetime.datetime(
        2026, 12, 1, 9, 58, 59, tzinfo=datetime.UTC
    )
    assert listing.calls[-2:] == [("list", ""), ("describe", "old")]


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
        [THROTTLED, page(ended("a", 5), ended("b", 5))],
        {"a": [THROTTLED] * observation.PAGE_ATTEMPTS, "b": [described("b", "Completed")]},
    )
    made, _ = poller(listing, job("ua", "a"), job("ub", "b"))
    with caplog.at_level(logging.INFO, logger=observation.__name__):
        await made.cycle()
        made.finished(1.0, 2)
    assert [r.levelno for r in caplog.records] == [logging.INFO, logging.INFO]
    # The page once, the Describe of a at each of its tries.
    throttles = 1 + observation.PAGE_ATTEMPTS
    assert f"{throttles} calls throttled this cycle" in caplog.records[-1].message
    assert made.throttled == 0  # counted afresh next cycle


@pytest.mark.parametrize(
    ("failures", "delay"), [(1, 10.0), (2, 20.0), (3, 30.0), (4, 30.0), (50, 30.0)]
)
def test_a_failing_loop_waits_at_most_a_few_intervals(failures: int, delay: float) -> None:
    assert observation.loop_delay(failures, 10.0, 1.0) == delay
    assert observation.loop_delay(failures, 10.0, 0.5) == delay / 2


async def test_debts_are_paid_while_the_listing_waits_on_its_pages() -> None:
    """At 10,000 running jobs a cycle lists for 50 s: the owed Describes must not wait it out."""
    described_once = asyncio.Event()

    class SlowListing(FakeListing):
        async def list_page(self, **params: Any) -> Mapping[str, Any]:
            await described_once.wait()  # the page comes only after a Describe went through
            return await super().list_page(**params)

        async def describe(self, job_name: str) -> Mapping[str, Any]:
            described_once.set()
            return await super().describe(job_name)

    from_summary = shown_from_summary("ua", "a", "Downloading")
    listing = SlowListing([page()], {"a": [described("a", "Downloading")]})
    made, applied = poller(listing, from_summary)
    await asyncio.wait_for(made.cycle(), timeout=5)
    assert applied.kinds == ["described"]
    assert listing.calls == [("describe", "a"), ("list", "")]


async def test_a_change_is_written_as_soon_as_its_page_is_read() -> None:
    """At 1,000 running jobs a listing is 10 pages under a 2/s budget (at 10,000, 100): a
    change on the first page must not wait for the last to be read."""
    first_written = asyncio.Event()

    class Applying(Applied):
        async def __call__(self, job: owned.OwnedJob, description: Any) -> None:
            await super().__call__(job, description)
            first_written.set()

    class SlowListing(FakeListing):
        async def list_page(self, **params: Any) -> Mapping[str, Any]:
            if params.get("NextToken"):
                await first_written.wait()  # page 2 comes only once page 1's change is shown
            return await super().list_page(**params)

    listing = SlowListing(
        [page(summary("a", "Downloading", 5), token="p2"), page(summary("b", "Training", 6))],
        # the Describes the summaries leave owed, paid beside the listing
        {"a": [described("a", "Downloading")], "b": [described("b", "Training")]},
    )
    made, _ = poller(listing, job("ua", "a", "Starting"), job("ub", "b", "Starting"))
    applied = Applying()
    made._apply = applied
    assert await asyncio.wait_for(made.cycle(), timeout=5) == 2
    assert applied.seen[0] == ("ua", "Downloading")
    assert ("ub", "Training") in applied.seen


async def test_a_describe_started_before_the_deadline_is_not_abandoned() -> None:
    """Cancelled on the wire, a Describe is still answered (and counted) by SageMaker: the job,
    still owed, would cost a second one next cycle."""

    class SlowDescribe(FakeListing):
        async def describe(self, job_name: str) -> Mapping[str, Any]:
            self.calls.append(("describe", job_name))
            await asyncio.sleep(0.05)  # a slow answer: five times the cycle's interval
            return self._answer(self.descriptions[job_name].pop(0))

    from_summary = shown_from_summary("ua", "a", "Downloading")
    listing = SlowDescribe([page(), page()], {"a": [described("a", "Downloading")]})
    # The debts' deadline passes while the Describe is on the wire.
    made, applied = poller(listing, from_summary, interval=0.01)
    await asyncio.wait_for(made.cycle(), timeout=5)
    assert applied.kinds == ["described"]
    await made.cycle()  # paid: nothing owed, nothing described again
    assert listing.calls.count(("describe", "a")) == 1


HOUR = datetime.timedelta(hours=1)


@pytest.mark.parametrize(
    ("jobs", "spread", "expected"),
    [
        (observation.SPLIT_AT_JOBS - 1, HOUR, 1),  # a short walk: one
        (observation.SPLIT_AT_JOBS, HOUR, 2),
        (3 * observation.PAGE_SIZE, HOUR, 3),
        (10_000, HOUR, observation.MAX_WALKS),
        (observation.SPLIT_AT_JOBS, datetime.timedelta(0), 1),  # all at once: no split
    ],
)
def test_a_long_listing_walks_equal_parts_at_once_with_an_overlap(
    jobs: int, spread: datetime.timedelta, expected: int
) -> None:
    created = [T0 + spread * i / jobs for i in range(jobs)]
    after = T0 - datetime.timedelta(seconds=1)
    ranges = observation.walks(after, observation.splits_of(after, created))
    assert len(ranges) == expected
    assert ranges[0][0] == after
    assert ranges[-1][1] is None  # up to now
    for i in range(1, expected):
        split = created[jobs * i // expected]
        assert ranges[i - 1][1] == split
        assert ranges[i][0] == split - observation.OVERLAP  # strict bounds: nothing between


@dataclass
class HalvesListing:
    """Answers each half's walk by its bounds; each half's first page waits until the other
    half has asked for its own, so a walk of one half after the other never ends."""

    older: list[Any]
    newer: list[Any]
    region: str = REGION
    asked: dict[str, asyncio.Event] = field(
        default_factory=lambda: {"older": asyncio.Event(), "newer": asyncio.Event()}
    )
    calls: list[str] = field(default_factory=list)

    async def list_page(self, **params: Any) -> Mapping[str, Any]:
        half, other = ("older", "newer") if "CreationTimeBefore" in params else ("newer", "older")
        self.calls.append(half)
        self.asked[half].set()
        await self.asked[other].wait()
        return FakeListing._answer(self.older.pop(0) if half == "older" else self.newer.pop(0))

    async def describe(self, job_name: str) -> Mapping[str, Any]:
        return described(job_name, "Downloading")  # the Describe a summary's write owes


async def test_the_two_halves_are_walked_at_once_and_the_overlap_is_shown_once() -> None:
    jobs = [
        job(f"u{i}", f"j{i}", created=f"2026-12-01T10:{i // 60:02d}:{i % 60:02d}Z")
        for i in range(200)
    ]
    # j100 sits in both halves' overlap: both answer it, as SageMaker would.
    listing = HalvesListing(
        older=[
            page(summary("j1", "Downloading", 1), token="o2"),
            page(summary("j100", "Downloading", 2)),
        ],
        newer=[page(summary("j100", "Downloading", 2), summary("j150", "Downloading", 3))],
    )
    made, applied = poller(cast(Any, listing), *jobs)
    changed = await asyncio.wait_for(made.cycle(), 10)  # one half after the other: never
    assert changed == 3
    from_summaries = [
        uid for (uid, _), kind in zip(applied.seen, applied.kinds, strict=True) if kind == "summary"
    ]
    assert sorted(from_summaries) == ["u1", "u100", "u150"]  # j100 once, though listed twice
    assert listing.calls.count("older") == 2
    assert listing.calls.count("newer") == 1


async def test_a_half_that_keeps_failing_fails_the_cycle_after_the_other_half_is_applied() -> None:
    jobs = [
        job(f"u{i}", f"j{i}", created=f"2026-12-01T10:{i // 60:02d}:{i % 60:02d}Z")
        for i in range(200)
    ]
    listing = HalvesListing(
        older=[page(summary("j1", "Downloading", 1))],
        newer=[INTERNAL] * observation.PAGE_ATTEMPTS,
    )
    made, applied = poller(cast(Any, listing), *jobs)
    with pytest.raises(errors.TransientError):
        await made.cycle()
    assert applied.seen[0] == ("u1", "Downloading")  # the older half's change is not thrown away


def head_started(
    listing: CountedListing, hint: window_hints.Hint
) -> tuple[observation.RegionPoller, Applied, owned.OwnedIndex, asyncio.Event]:
    """A poller as a restart makes it: a hint from the last process, an index not yet read."""
    index = owned.OwnedIndex()
    primed = asyncio.Event()
    applied = Applied()
    made = observation.RegionPoller(
        listing,
        index,
        applied,
        interval=10,
        concurrency=4,
        full_sweep_interval=3600,
        skew=0,
        page_retry_seconds=0,
        head_start=hint,
        ready=primed.wait,
    )
    return made, applied, index, primed


@dataclass
class CountedListing(FakeListing):
    """Says when pages are asked: a head start's walk is awaited, not slept on."""

    counted: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def list_page(self, **params: Any) -> Mapping[str, Any]:
        answer = await super().list_page(**params)
        async with self.counted:
            self.counted.notify_all()
        return answer


async def asked(listing: CountedListing, pages: int) -> None:
    async with listing.counted:
        await listing.counted.wait_for(lambda: len(listing.params) >= pages)


async def test_a_restart_lists_from_its_hint_before_the_index_is_read() -> None:
    hint = window_hints.Hint(T0 - datetime.timedelta(seconds=1))
    listing = CountedListing(
        [page(summary("a", "Downloading", 5), token="2"), page(summary("b", "Training", 0))],
        {"a": [described("a", "Downloading")]},
    )
    made, applied, index, primed = head_started(listing, hint)
    cycle = asyncio.create_task(made.cycle())
    await asyncio.wait_for(asked(listing, 2), 5)  # both pages, with the index still empty
    assert not cycle.done()
    # The first walk has no LastModifiedTimeAfter: it cannot know the resources' watermarks.
    assert listing.params[0] == {
        "CreationTimeAfter": hint.created_after,
        "MaxResults": observation.PAGE_SIZE,
        "SortBy": "CreationTime",
        "SortOrder": "Ascending",
    }
    for found in (
        job("ua", "a", "Starting", created="2026-12-01T10:00:00Z"),
        job("ub", "b", created="2026-12-01T10:00:05Z"),
    ):
        assert found is not None
        index.put(found.uid, found)
    primed.set()
    assert await asyncio.wait_for(cycle, 5) == 1
    assert applied.seen == [("ua", "Downloading"), ("ua", "Downloading")]
    assert [call for call in listing.calls if call[0] == "list"] == [("list", ""), ("list", "2")]
    assert made.window == window_hints.Hint(T0 - datetime.timedelta(seconds=1))


async def test_a_hint_later_than_the_oldest_running_job_walks_the_gap_too() -> None:
    # The hint is a head start, never trusted: a job older than it (adopted, say, or a hint
    # kept before that job's resource appeared) is listed by a walk of what the hint left out.
    hint = window_hints.Hint(T0 + datetime.timedelta(minutes=30))
    listing = CountedListing(
        [page(summary("new", "Training", 40)), page(summary("old", "Downloading", 5))],
        {"old": [described("old", "Downloading")], "new": [described("new", "Training")]},
    )
    made, applied, index, primed = head_started(listing, hint)
    cycle = asyncio.create_task(made.cycle())
    await asyncio.wait_for(asked(listing, 1), 5)
    for found in (
        job("uold", "old", "Starting", created="2026-12-01T10:00:00Z"),
        job("unew", "new", "Starting", created="2026-12-01T10:40:00Z"),
    ):
        assert found is not None
        index.put(found.uid, found)
    primed.set()
    assert await asyncio.wait_for(cycle, 5) == 2
    gap = listing.params[1]
    assert gap["CreationTimeAfter"] == T0 - datetime.timedelta(seconds=1)
    assert gap["CreationTimeBefore"] == hint.created_after + observation.OVERLAP
    assert {uid for uid, _ in applied.seen} == {"uold", "unew"}
    assert made.window == window_hints.Hint(T0 - datetime.timedelta(seconds=1))


async def test_a_hint_with_a_split_walks_its_two_parts_at_once() -> None:
    middle = T0 + datetime.timedelta(minutes=10)
    listing = CountedListing([page(), page()])
    made, _, index, primed = head_started(
        listing, window_hints.Hint(T0 - datetime.timedelta(seconds=1), (middle,))
    )
    cycle = asyncio.create_task(made.cycle())
    await asyncio.wait_for(asked(listing, 2), 5)
    assert sorted(str(params.get("CreationTimeBefore")) for params in listing.params) == sorted(
        [str(middle), "None"]
    )
    found = job("ua", "a", created="2026-12-01T10:00:00Z")
    assert found is not None
    index.put(found.uid, found)
    primed.set()
    assert await asyncio.wait_for(cycle, 5) == 0


async def test_a_head_start_with_no_running_job_left_ends_the_cycle_and_forgets_the_window() -> (
    None
):
    listing = CountedListing([page()])
    made, applied, _, primed = head_started(listing, window_hints.Hint(T0))
    made.window = window_hints.Hint(T0)
    primed.set()
    assert await asyncio.wait_for(made.cycle(), 5) == 0
    assert made.window is None
    assert applied.seen == []


@pytest.mark.parametrize(
    ("jobs", "middle"),
    [
        (1, None),  # one walk: nothing to split
        (observation.SPLIT_AT_JOBS, "2026-12-01T10:01:40Z"),  # the median's creation time
    ],
)
async def test_a_cycle_records_where_its_listing_began(jobs: int, middle: str | None) -> None:
    made, _ = poller(
        FakeListing([page(), page()]),  # two halves walk a page each
        *(
            job(f"u{i}", f"j{i}", created=f"2026-12-01T10:{i // 60:02d}:{i % 60:02d}Z")
            for i in range(jobs)
        ),
    )
    await made.cycle()
    split = owned.parse_time(middle)
    assert made.window == window_hints.Hint(
        T0 - datetime.timedelta(seconds=1), (split,) if split else ()
    )


async def test_the_loop_keeps_each_completed_cycles_window() -> None:
    kept: list[window_hints.Hint | None] = []
    done = asyncio.Event()

    async def keep(hint: window_hints.Hint | None) -> None:
        kept.append(hint)
        done.set()

    found = job("ua", "a", created="2026-12-01T10:00:00Z")
    assert found is not None
    index = owned.OwnedIndex()
    index.put(found.uid, found)
    made = observation.RegionPoller(
        FakeListing([page()] * 10),
        index,
        Applied(),
        interval=10,
        concurrency=4,
        full_sweep_interval=3600,
        skew=0,
        keep=keep,
    )
    loop = asyncio.create_task(made.run_forever())
    await asyncio.wait_for(done.wait(), 5)
    loop.cancel()
    await asyncio.gather(loop, return_exceptions=True)
    assert kept == [window_hints.Hint(T0 - datetime.timedelta(seconds=1))]
