"""SageMaker's "Training Job State Change" events, delivered to an SQS queue as EventBridge would.

SageMaker sends an event to EventBridge whenever a training job's status changes (AWS:
*Events that Amazon SageMaker AI sends to Amazon EventBridge*, SageMaker developer guide);
a rule whose target is an SQS queue puts each one there, the event's JSON as the message
body. With ``--events-queue NAME`` the emulator does both: every change of a job's
``TrainingJobStatus`` or ``SecondaryStatus``, in every region, becomes one message::

    {"version": "0", "id": "<uuid>", "detail-type": "SageMaker Training Job State Change",
     "source": "aws.sagemaker", "account": "<account>", "time": "2024-05-01T12:00:00Z",
     "region": "<the job's>", "resources": ["<the job's ARN>"],
     "detail": {<DescribeTrainingJob as of that change>, "Tags": {"key": "value"}}}

Timestamps inside ``detail`` are epoch milliseconds, as the guide's example writes them
(``"CreationTime": "1583831889050"``), and ``Tags`` is a map, as there.

Job status is computed lazily from the clock (:mod:`.lifecycle`), so nothing "happens" when
a job moves on; the :class:`Publisher` finds out. It keeps, for each job that can still
change on its own, the time of its next transition, in a heap. Creating, stopping,
updating or deleting a job (any :meth:`store.Store.put`) publishes what is due at once and
reschedules the job; a background task sleeps until the earliest transition due (or until
woken) and publishes it. Each change is published with the description *as of the moment it
happened*, so a job that went through three phases between two looks still yields three
events, in order, and the sequence of a job's events walks its lifecycle. Its cost is the
transitions, not the jobs: settled jobs leave the heap.

Faults (:class:`faults.EventFaults`) lose, duplicate, delay or reorder events on the way, as
the guide warns ("SageMaker AI may send multiple events to EventBridge for each state
change") and as any at-least-once delivery can.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import heapq
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any, Final

from botocore.model import ListShape, MapShape, Shape, StructureShape

from sagemaker_operator.emulator import faults, lifecycle, operations, sqs, store

logger = logging.getLogger(__name__)

SOURCE: Final = "aws.sagemaker"
DETAIL_TYPE: Final = "SageMaker Training Job State Change"
MAX_SLEEP: Final = 1.0  # seconds; a bound in case the clock is swapped under a sleeping task

State = tuple[str, str]  # (TrainingJobStatus, SecondaryStatus)


@dataclasses.dataclass
class _Watch:
    """What was last published for one job, and which heap entry is current."""

    last_time: float = float("-inf")
    last_state: State | None = None
    version: int = 0
    held: tuple[str, bool, bool] | None = None  # a reordered event: (body, twice, late)


@dataclasses.dataclass
class Stats:
    published: int = 0  # state changes seen (one event each, before faults)
    delivered: int = 0  # messages put on the queue
    lost: int = 0
    duplicated: int = 0
    delayed: int = 0
    reordered: int = 0


class Publisher:
    """Watches jobs and puts one event per state change on ``queue``."""

    def __init__(
        self,
        *,
        jobs: store.Store,
        service: operations.Service,
        queues: sqs.Service,
        queue: sqs.Queue,
        describe_output: Shape,
        account: str,
        clock: Callable[[], float],
        dice: faults.EventDice,
    ) -> None:
        self.jobs = jobs
        self.service = service
        self.queues = queues
        self.queue = queue
        self.describe_output = describe_output
        self.account = account
        self.clock = clock
        self.dice = dice
        self.stats = Stats()
        self._watches: dict[store.Key, _Watch] = {}
        self._due: list[tuple[float, int, store.Key, int]] = []  # (when, tie, key, version)
        self._ties = 0
        self._wakeup = asyncio.Event()
        now = self._now()
        # NB: jobs loaded from a state file start from where they are: what happened while
        # the emulator was down was delivered to a queue that is gone with it.
        for job in jobs.values():
            watch = self._watches[job.key] = _Watch(last_time=now)
            watch.last_state = self._state_at(job, now)[0]
            self._schedule(job, watch, now)

    @property
    def watching(self) -> int:
        """Jobs that can still change on their own (the heap's live entries)."""
        return sum(1 for w in self._watches.values() if w.version > 0)

    def _now(self) -> float:
        return round(self.clock(), 3)  # SageMaker's precision, as the server reads it

    # -- the two ways in ------------------------------------------------------------------

    def watch(self, job: store.Job) -> None:
        """A request changed ``job``: publish what is due now and reschedule it."""
        self._advance(job, self._now())
        self._wakeup.set()

    def tick(self) -> None:
        """Publish every transition due by now."""
        now = self._now()
        while self._due and self._due[0][0] <= now:
            _, _, key, version = heapq.heappop(self._due)
            watch = self._watches.get(key)
            if watch is None or watch.version != version:
                continue  # rescheduled since, or forgotten
            job = self.jobs.get(key)
            if job is None:
                self._watches.pop(key, None)
                continue
            self._advance(job, now)

    def wake(self) -> None:
        """Look again now (after a hand-moved clock, say)."""
        self._wakeup.set()

    async def run(self) -> None:
        """Publish transitions as they fall due, until cancelled."""
        while True:
            self._wakeup.clear()
            try:
                self.tick()
            except Exception:
                logger.exception("Publishing job state-change events failed.")
            delay = MAX_SLEEP
            if self._due:
                delay = min(MAX_SLEEP, max(0.0, self._due[0][0] - self.clock()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), delay)

    def reset(self) -> None:
        """Forget every job (the store was cleared)."""
        self._watches.clear()
        self._due.clear()

    # -- the work -------------------------------------------------------------------------

    def _advance(self, job: store.Job, now: float) -> None:
        watch = self._watches.setdefault(job.key, _Watch())
        points = _change_times(job)
        # NB: from last_time inclusive: a request at that very instant (a stop) can change
        # the state there; the comparison with last_state keeps an unchanged one quiet.
        due = [t for t in points if watch.last_time <= t <= now]
        for t in [*due, now]:
            state, seen = self._state_at(job, t)
            if state != watch.last_state:
                watch.last_state = state
                self._publish(job, seen, t, watch)
        watch.last_time = now
        self._schedule(job, watch, now, points)

    def _schedule(
        self, job: store.Job, watch: _Watch, now: float, points: list[float] | None = None
    ) -> None:
        upcoming = [t for t in (points or _change_times(job)) if t > now]
        self._ties += 1
        if upcoming:
            watch.version = self._ties
            heapq.heappush(self._due, (min(upcoming), self._ties, job.key, watch.version))
        else:
            watch.version = 0  # settled: out of the heap until a request changes it
            self._release_held(watch)

    def _state_at(self, job: store.Job, t: float) -> tuple[State, store.Job]:
        """The job as it was at ``t``: requests made later undone where they show."""
        seen = dataclasses.replace(
            job,
            settled=None,
            deleted=job.deleted if job.deleted is not None and job.deleted <= t else None,
            modified=job.modified if job.modified <= t else 0.0,
        )
        snapshot, status = self.service.status(seen, t)
        return (status, snapshot.secondary), seen

    def event(self, job: store.Job, seen: store.Job, t: float) -> dict[str, Any]:
        """The EventBridge envelope of ``job``'s state at ``t``."""
        detail = self.service.description(seen, t)
        detail = _millis(self.describe_output, detail)
        detail["Tags"] = dict(job.tags)
        when = datetime.datetime.fromtimestamp(t, datetime.UTC)
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": DETAIL_TYPE,
            "source": SOURCE,
            "account": self.account,
            "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": job.region,
            "resources": [job.arn],
            "detail": detail,
        }

    def _publish(self, job: store.Job, seen: store.Job, t: float, watch: _Watch) -> None:
        self.stats.published += 1
        if self.dice.hits("lost"):
            self.stats.lost += 1
            return
        body = json.dumps(self.event(job, seen, t), separators=(",", ":"))
        twice = self.dice.hits("duplicated")
        late = self.dice.hits("delayed")
        # Only an event that will have a successor can be delivered after it.
        has_next = watch.held is None and self._has_successor(job, t)
        if has_next and self.dice.hits("reordered"):
            self.stats.reordered += 1
            watch.held = (body, twice, late)
            return
        self._deliver(body, twice, late)
        self._release_held(watch)

    def _has_successor(self, job: store.Job, t: float) -> bool:
        return any(point > t for point in _change_times(job))

    def _release_held(self, watch: _Watch) -> None:
        if watch.held is not None:
            body, twice, late = watch.held
            watch.held = None
            self._deliver(body, twice, late)

    def _deliver(self, body: str, twice: bool, late: bool) -> None:
        delay = self.dice.settings.delay_seconds if late else 0.0
        if late:
            self.stats.delayed += 1
        for _ in range(2 if twice else 1):
            self.queues.send(self.queue, body, delay)
            self.stats.delivered += 1
        if twice:
            self.stats.duplicated += 1


def _change_times(job: store.Job) -> list[float]:
    """Every instant the job's status or secondary status changes, past and future."""
    points = [s.start for s in lifecycle.timeline(job.plan, job.created, job.stop_requested)]
    if job.deleted is not None:
        points.append(job.deleted)
    return sorted(points)


def _millis(shape: Shape, value: Any) -> Any:
    """``value`` with every timestamp the model types as one in epoch milliseconds (text)."""
    kind = shape.type_name
    if kind == "timestamp" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(round(value * 1000))
    if kind == "structure" and isinstance(shape, StructureShape) and isinstance(value, dict):
        members = shape.members
        return {k: _millis(members[k], v) if k in members else v for k, v in value.items()}
    if kind == "list" and isinstance(shape, ListShape) and isinstance(value, list):
        return [_millis(shape.member, v) for v in value]
    if kind == "map" and isinstance(shape, MapShape) and isinstance(value, dict):
        return {k: _millis(shape.value, v) for k, v in value.items()}
    return value
