"""The events queue's consumer: SageMaker's state-change events to status, each fault of an
at-least-once, unordered delivery, against a scripted queue (the consumer's own port)."""

from __future__ import annotations

import asyncio
import datetime
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from sagemaker_operator import names
from sagemaker_operator.controller import owned, state_changes
from sagemaker_operator.sagemaker import errors, state_events
from tests.reconciler.table import THROTTLED

REGION = "us-east-1"
T0 = datetime.datetime(2026, 12, 1, 10, 0, tzinfo=datetime.UTC)


def millis(minute: int) -> str:
    return str(int((T0 + datetime.timedelta(minutes=minute)).timestamp() * 1000))


def event(
    name: str,
    secondary: str,
    minute: int,
    *,
    status: str = "InProgress",
    uid: str | None = None,
    region: str = REGION,
    **detail: Any,
) -> str:
    """A message body as an EventBridge rule delivers SageMaker's event to SQS."""
    tags = {names.TAG_UID: uid} if uid else {}
    return json.dumps(
        {
            "version": "0",
            "id": f"{name}-{minute}",
            "detail-type": "SageMaker Training Job State Change",
            "source": "aws.sagemaker",
            "account": "123456789012",
            "time": "2026-12-01T10:00:00Z",
            "region": region,
            "resources": [f"arn:{name}"],
            "detail": {
                "TrainingJobName": name,
                "TrainingJobArn": f"arn:{name}",
                "TrainingJobStatus": status,
                "SecondaryStatus": secondary,
                "CreationTime": millis(0),
                "LastModifiedTime": millis(minute),
                "SecondaryStatusTransitions": [
                    {"Status": secondary, "StartTime": millis(minute), "StatusMessage": "..."}
                ],
                "Tags": tags,
                **detail,
            },
        }
    )


# -- parse --------------------------------------------------------------------------------


def test_an_event_reads_as_a_description_with_botocore_types() -> None:
    change = state_events.parse(event("a", "Training", 5, uid="u1"))
    assert change is not None
    assert change.region == REGION
    assert change.job_name == "a"
    assert change.modified == T0 + datetime.timedelta(minutes=5)
    assert change.description["CreationTime"] == T0
    transition = change.description["SecondaryStatusTransitions"][0]
    assert transition["StartTime"] == T0 + datetime.timedelta(minutes=5)
    assert change.tags == {names.TAG_UID: "u1"}
    assert "Tags" not in change.description  # not a member of DescribeTrainingJob


@pytest.mark.parametrize(
    "stamp",
    [int(T0.timestamp() * 1000), float(T0.timestamp() * 1000), "2026-12-01T10:00:00Z"],
    ids=["number", "float", "iso"],
)
def test_timestamps_as_numbers_or_iso_read_alike(stamp: Any) -> None:
    body = json.loads(event("a", "Training", 0))
    body["detail"]["LastModifiedTime"] = stamp
    change = state_events.parse(json.dumps(body))
    assert change is not None
    assert change.modified == T0


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        json.dumps({**json.loads(event("a", "Training", 0)), "source": "aws.ec2"}),
        json.dumps(
            {**json.loads(event("a", "Training", 0)), "detail-type": "Endpoint State Change"}
        ),
        json.dumps({**json.loads(event("a", "Training", 0)), "detail": "text"}),
        json.dumps({**json.loads(event("a", "Training", 0)), "region": ""}),
        event("a", "Training", 0, LastModifiedTime="yesterday"),
        event("a", "Training", 0, LastModifiedTime=True),
        event("a", "Training", 0, TrainingJobName=None),
        event("a", "Training", 0, SecondaryStatusTransitions="none"),
    ],
    ids=[
        "not-json",
        "not-an-object",
        "other-source",
        "other-type",
        "detail-not-object",
        "no-region",
        "bad-time",
        "boolean-time",
        "no-name",
        "bad-list",
    ],
)
def test_anything_else_is_not_a_change(body: str) -> None:
    assert state_events.parse(body) is None


# -- judge --------------------------------------------------------------------------------


def job(uid: str, name: str, modified: str = "2026-12-01T10:00:00Z") -> owned.OwnedJob:
    status = {
        "trainingJobName": name,
        "trainingJobArn": f"arn:{name}",
        "region": REGION,
        "phase": "InProgress",
        "trainingJobStatus": "InProgress",
        "secondaryStatus": "Starting",
        "lastModifiedTime": modified,
    }
    meta = {"generation": 1, "creationTimestamp": "2026-12-01T09:00:00Z"}
    found = owned.record_of(namespace="ns", name=uid, uid=uid, meta=meta, status=status)
    assert found is not None
    return found


def change_of(body: str) -> state_events.Change:
    found = state_events.parse(body)
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("body", "named", "shown", "expected"),
    [
        (event("a", "Training", 5), [job("u1", "a")], {}, (["u1"], "applied")),
        # The same moment again (a duplicate): written again, a no-op patch.
        (event("a", "Training", 0), [job("u1", "a")], {}, (["u1"], "applied")),
        # Older than the status shows: dropped.
        (event("a", "Starting", 0), [job("u1", "a", "2026-12-01T10:05:00Z")], {}, ([], "stale")),
        # Older than what this process wrote, which the index has not shown yet.
        (
            event("a", "Downloading", 3),
            [job("u1", "a")],
            {"u1": T0.replace(minute=5)},
            ([], "stale"),
        ),
        # Two resources naming the job: each judged on its own.
        (
            event("a", "Training", 3),
            [job("u1", "a", "2026-12-01T10:05:00Z"), job("u2", "a")],
            {},
            (["u2"], "applied"),
        ),
        (event("a", "Training", 5, uid="u9"), [], {}, ([], "early")),
        (event("a", "Training", 5), [], {}, ([], "foreign")),
    ],
    ids=["newer", "duplicate", "stale", "stale-vs-own-write", "two-resources", "early", "foreign"],
)
def test_judge(
    body: str,
    named: list[owned.OwnedJob],
    shown: dict[str, datetime.datetime],
    expected: tuple[list[str], str],
) -> None:
    jobs, outcome = state_changes.judge(change_of(body), named, shown)
    assert ([j.uid for j in jobs], outcome) == expected


# -- the consumer --------------------------------------------------------------------------


@dataclass
class FakeQueue:
    batches: list[Any]  # each a list of (body, receive count), or an exception
    deleted: list[str] = field(default_factory=list)
    postponed: list[tuple[str, int]] = field(default_factory=list)
    receives: int = 0

    async def receive(self) -> list[Mapping[str, Any]]:
        self.receives += 1
        batch = self.batches.pop(0)
        if isinstance(batch, Exception):
            raise errors.classify(batch) from batch
        return [
            {"ReceiptHandle": f"r{i}", "Body": body, "Attributes": {"ApproximateReceiveCount": n}}
            for i, (body, n) in enumerate(batch)
        ]

    async def delete(self, receipts: Sequence[str]) -> None:
        self.deleted += receipts

    async def later(self, receipt: str, seconds: int) -> None:
        self.postponed.append((receipt, seconds))


@dataclass
class Written:
    seen: list[tuple[str, str]] = field(default_factory=list)
    fail_for: set[str] = field(default_factory=set)

    async def __call__(self, job: owned.OwnedJob, description: Mapping[str, Any] | None) -> None:
        if job.uid in self.fail_for:
            raise RuntimeError("429 from the API server")
        assert description is not None
        self.seen.append((job.uid, description["SecondaryStatus"]))


def consumer(
    queue: FakeQueue, *jobs: owned.OwnedJob
) -> tuple[state_changes.QueueConsumer, Written, dict[str, str]]:
    index = owned.OwnedIndex()
    for found in jobs:
        index.put(found.uid, found)
    written, vouched = Written(), dict[str, str]()
    made = state_changes.QueueConsumer(queue, index, written, vouch=vouched.__setitem__)
    return made, written, vouched


async def test_ten_changes_cost_one_receive_and_are_acknowledged_together() -> None:
    bodies = [(event(f"j{i}", "Training", 5, uid=f"u{i}"), 1) for i in range(10)]
    queue = FakeQueue([bodies])
    made, written, vouched = consumer(queue, *(job(f"u{i}", f"j{i}") for i in range(10)))
    assert await made.round() == 10
    assert queue.receives == 1
    assert sorted(written.seen) == sorted((f"u{i}", "Training") for i in range(10))
    assert sorted(queue.deleted) == sorted(f"r{i}" for i in range(10))
    # The event's tags proved ownership: no ListTags will be asked.
    assert vouched == {f"u{i}": f"arn:j{i}" for i in range(10)}


async def test_a_duplicate_and_a_late_older_event_leave_the_newest_status() -> None:
    queue = FakeQueue(
        [
            [(event("a", "Training", 5), 1), (event("a", "Training", 5), 1)],
            [(event("a", "Downloading", 3), 1)],  # reordered: arrives after a newer one
        ]
    )
    made, written, _ = consumer(queue, job("u1", "a"))
    await made.round()
    await made.round()
    assert written.seen == [("u1", "Training")]  # the duplicate in the same receive: once
    assert queue.deleted == ["r0", "r1", "r0"]  # the stale one is acknowledged, not written


async def test_a_jobs_changes_in_one_receive_are_one_write_of_the_newest() -> None:
    stopped = event("a", "Stopped", 6, status="Stopped")
    queue = FakeQueue(
        [
            [
                (event("a", "Stopping", 5, status="Stopping"), 1),
                (event("b", "Training", 5), 1),
                (stopped, 1),
                (event("a", "Stopping", 4), 1),  # reordered: older, comes last
            ]
        ]
    )
    made, written, _ = consumer(queue, job("u1", "a"), job("u2", "b"))
    assert await made.round() == 4
    assert sorted(written.seen) == [("u1", "Stopped"), ("u2", "Training")]
    assert sorted(queue.deleted) == ["r0", "r1", "r2", "r3"]


def test_of_one_moments_events_the_later_is_newest() -> None:
    primary = change_of(event("a", "Training", 5, status="Stopping"))
    secondary = change_of(event("a", "Stopping", 5, status="Stopping"))
    assert state_changes.newest([primary, None, secondary]) == [secondary]
    undated = change_of(event("a", "Training", 5, LastModifiedTime=None))
    assert state_changes.newest([primary, undated]) == [primary]


async def test_a_failed_write_is_not_acknowledged_so_it_comes_again() -> None:
    queue = FakeQueue([[(event("a", "Training", 5), 1), (event("b", "Training", 5), 1)]])
    made, written, _ = consumer(queue, job("u1", "a"), job("u2", "b"))
    written.fail_for = {"u1"}
    await made.round()
    assert written.seen == [("u2", "Training")]
    assert queue.deleted == ["r1"]


async def test_a_job_no_resource_shows_yet_is_looked_at_again_then_dropped() -> None:
    ours = event("a", "Training", 5, uid="u1")
    queue = FakeQueue([[(ours, 1)], [(ours, state_changes.EARLY_RECEIVES)]])
    made, written, _ = consumer(queue)
    await made.round()
    assert queue.postponed == [("r0", state_changes.RETRY_EARLY_SECONDS)]
    assert queue.deleted == []
    await made.round()
    assert queue.deleted == ["r0"]  # enough: another installation's, or long gone
    assert written.seen == []


async def test_another_jobs_event_and_garbage_are_acknowledged_at_once() -> None:
    queue = FakeQueue([[(event("someone-else", "Training", 5), 1), ("{oops", 1)]])
    made, written, _ = consumer(queue, job("u1", "a"))
    await made.round()
    assert sorted(queue.deleted) == ["r0", "r1"]
    assert written.seen == []


async def test_an_event_from_another_region_is_not_this_regions_job() -> None:
    queue = FakeQueue([[(event("a", "Training", 5, region="eu-west-1"), 1)]])
    made, written, _ = consumer(queue, job("u1", "a"))
    await made.round()
    assert written.seen == []
    assert queue.deleted == ["r0"]


async def test_a_throttled_receive_is_weather_for_the_loop() -> None:
    queue = FakeQueue([THROTTLED])
    made, _, _ = consumer(queue)
    with pytest.raises(errors.ThrottlingError):
        await made.round()


async def test_a_loop_receives_the_next_batch_while_writing_one_but_no_more() -> None:
    count = state_changes.BATCHES_IN_FLIGHT + 1
    batches = [[(event(f"j{i}", "Training", 5), 1)] for i in range(count)]
    queue = FakeQueue([*batches, *([[]] * 100)])
    made, _, _ = consumer(queue, *(job(f"u{i}", f"j{i}") for i in range(count)))
    release, full, all_written = asyncio.Event(), asyncio.Event(), asyncio.Event()
    writing: list[str] = []

    async def held(found: owned.OwnedJob, description: Mapping[str, Any] | None) -> None:
        writing.append(found.uid)
        if len(writing) == state_changes.BATCHES_IN_FLIGHT:
            full.set()
        await release.wait()
        if len(writing) == count:
            all_written.set()

    made._apply = held
    loop = asyncio.create_task(made.run_forever())
    try:
        await asyncio.wait_for(full.wait(), 5)
        # BATCHES_IN_FLIGHT batches are being written; the loop waits for room to receive.
        for _ in range(20):
            await asyncio.sleep(0)
        assert queue.receives == state_changes.BATCHES_IN_FLIGHT
        release.set()
        await asyncio.wait_for(all_written.wait(), 5)
        assert writing == [f"u{i}" for i in range(count)]
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
