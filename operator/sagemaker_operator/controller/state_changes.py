"""Status from SageMaker's own job-state-change events, read from an SQS queue.

Where an EventBridge rule delivers SageMaker's "Training Job State Change" events to an SQS
queue (docs/events.md), the operator long-polls it: one ``ReceiveMessage`` brings up to ten
changes, each carrying the job's whole description, written to the resources that name the
job with no Describe, then acknowledged with one ``DeleteMessageBatch``. The pollers keep
running as a slow sweep (``--events-sweep-interval-seconds``), the safety net for events
lost, late or never sent.

Events are at-least-once and unordered (AWS warns that one change may yield several), so a
change older than what a resource already shows is acknowledged and dropped, and one job's
events are written one at a time. A message whose job no resource shows *yet* but which
carries the operator's provenance tags (a create whose status write is still on its way) is
looked at again a few seconds later, a few times, then dropped; any other job's message is
acknowledged at once: a queue may carry the whole account's jobs.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, Protocol

from sagemaker_operator import metrics, names
from sagemaker_operator.controller import owned
from sagemaker_operator.sagemaker import errors, state_events

logger = logging.getLogger(__name__)

Apply = Callable[[owned.OwnedJob, Mapping[str, Any] | None], Awaitable[None]]
RETRY_EARLY_SECONDS: Final = 5  # a message for a job no resource shows yet comes back then
EARLY_RECEIVES: Final = 6  # ...at most this often (half a minute), then it is dropped
MAX_BACKOFF_SECONDS: Final = 30.0
# Per loop: it receives again while batches are being written. Each batch waits for its
# slowest write before its one DeleteMessageBatch; with 2 a loop, the N = 1,000 stop-all kept
# about 2 status patches in flight and landed 60 a second on an API server half idle.
BATCHES_IN_FLIGHT: Final = 8


class Queue(Protocol):
    """What a consumer asks of the queue (:class:`sagemaker.queue.EventQueue`)."""

    async def receive(self) -> list[Mapping[str, Any]]: ...

    async def delete(self, receipts: Sequence[str]) -> None: ...

    async def later(self, receipt: str, seconds: int) -> None: ...


def judge(
    change: state_events.Change,
    named: Sequence[owned.OwnedJob],
    shown: Mapping[str, datetime.datetime],
) -> tuple[list[owned.OwnedJob], str]:
    """The resources to write ``change`` into, and what became of it.

    ``named``: the resources whose status names the job, in its region; ``shown``: the
    newest change this process wrote for each (the index can lag behind its own writes).
    Outcomes: ``applied``, ``stale`` (every resource shows something newer already),
    ``early`` (no resource names it, but it carries a resource's uid tag), ``foreign``.
    """
    if not named:
        return [], "early" if names.TAG_UID in change.tags else "foreign"
    fresh = []
    for job in named:
        known = [
            when
            for when in (shown.get(job.uid), owned.parse_time(job.status.get("lastModifiedTime")))
            if when is not None
        ]
        if change.modified is not None and known and change.modified < max(known):
            continue
        fresh.append(job)
    return fresh, "applied" if fresh else "stale"


def newest(changes: Sequence[state_events.Change | None]) -> list[state_events.Change]:
    """Of each job's changes, the newest (the later one of a tie: SageMaker's primary and
    secondary status of one moment come as two events, in that order); one write each.

    A stop brings two or three events a moment apart, mostly in one receive: writing each
    would patch the same resource again before the watch has shown the first patch.
    """
    found: dict[tuple[str, str], state_events.Change] = {}
    for change in changes:
        if change is None:
            continue
        key = (change.region, change.job_name)
        seen = found.get(key)
        if seen is None or not _older(change, seen):
            found[key] = change
    return list(found.values())


def _older(change: state_events.Change, than: state_events.Change) -> bool:
    if change.modified is None or than.modified is None:
        return change.modified is None and than.modified is not None
    return change.modified < than.modified


class QueueConsumer:
    """Receives, writes and acknowledges; several loops may share one consumer."""

    def __init__(
        self,
        queue: Queue,
        index: owned.OwnedIndex,
        apply: Apply,
        *,
        vouch: Callable[[str, str], None],
    ) -> None:
        self._queue = queue
        self._index = index
        self._apply = apply
        self._vouch = vouch
        self._shown: dict[str, datetime.datetime] = {}  # uid -> newest change written
        self._locks: dict[str, asyncio.Lock] = {}  # one job's events, one at a time
        self.last_progress = time.monotonic()

    async def run_forever(self) -> None:
        """Receive, and write each batch while receiving the next (``BATCHES_IN_FLIGHT``):
        a batch waits for its slowest write before its one DeleteMessageBatch, and the API
        server's other connections must not idle meanwhile."""
        failures = 0
        room = asyncio.Semaphore(BATCHES_IN_FLIGHT)
        settling: set[asyncio.Task[None]] = set()

        def settled(task: asyncio.Task[None]) -> None:
            settling.discard(task)
            room.release()
            if not task.cancelled() and task.exception() is not None:
                # Its messages come again when their visibility ends: judged again, then.
                self._log_failure(task.exception())

        try:
            while True:
                await room.acquire()
                try:
                    messages = await self._queue.receive()
                except Exception as error:
                    room.release()
                    failures += 1
                    delay = min(MAX_BACKOFF_SECONDS, 2.0**failures) * random.uniform(0.5, 1.0)
                    self._log_failure(error, f"; next receive in {delay:.0f}s")
                    self.last_progress = time.monotonic()
                    await asyncio.sleep(delay)
                    continue
                failures = 0
                self.last_progress = time.monotonic()
                task = asyncio.create_task(self._settle(messages))
                settling.add(task)
                task.add_done_callback(settled)
        finally:
            for task in settling:
                task.cancel()

    @staticmethod
    def _log_failure(error: BaseException | None, then: str = "") -> None:
        if not isinstance(error, errors.SageMakerError):
            logger.error("events queue: unexpected error", exc_info=error)
        weather = isinstance(error, errors.TransientError)
        logger.log(logging.INFO if weather else logging.WARNING, "events queue: %s%s", error, then)

    async def round(self) -> int:
        """One receive; writes what it brought; returns how many messages it handled."""
        messages = await self._queue.receive()
        await self._settle(messages)
        return len(messages)

    async def _settle(self, messages: Sequence[Mapping[str, Any]]) -> None:
        """Write what a receive brought, then acknowledge it in one call."""
        if not messages:
            return
        done: list[str] = []
        early: list[str] = []
        parsed = [state_events.parse(str(message.get("Body", ""))) for message in messages]
        wanted = {id(change) for change in newest(parsed)}

        async def handle(message: Mapping[str, Any], change: state_events.Change | None) -> None:
            receipt = str(message["ReceiptHandle"])
            if change is None:
                metrics.STATE_EVENTS.labels("unreadable").inc()
                done.append(receipt)  # it will never read better
                return
            if id(change) not in wanted:
                metrics.STATE_EVENTS.labels("superseded").inc()
                done.append(receipt)  # a newer change of the job came in the same receive
                return
            outcome = await self._write(change)
            if outcome == "early":
                receives = int((message.get("Attributes") or {}).get("ApproximateReceiveCount", 1))
                if receives < EARLY_RECEIVES:
                    metrics.STATE_EVENTS.labels("retried").inc()
                    early.append(receipt)
                    return
                outcome = "foreign"
            metrics.STATE_EVENTS.labels(outcome).inc()
            if outcome != "failed":
                done.append(receipt)  # a failed write is not acknowledged: it comes again

        await asyncio.gather(*(handle(m, c) for m, c in zip(messages, parsed, strict=True)))
        if done:
            await self._queue.delete(done)
        for receipt in early:
            await self._queue.later(receipt, RETRY_EARLY_SECONDS)

    async def _write(self, change: state_events.Change) -> str:
        """Write ``change`` into each resource naming the job that shows nothing newer."""
        named = self._index.named(change.region, change.job_name)
        if not named:
            return judge(change, [], self._shown)[1]
        written = False
        for job in named:
            async with self._locks.setdefault(job.uid, asyncio.Lock()):
                fresh, _ = judge(change, [job], self._shown)  # again, under the job's lock
                if not fresh:
                    continue
                if change.tags.get(names.TAG_UID) == job.uid:
                    # The event carries the job's tags: the ownership proof, with no ListTags.
                    self._vouch(job.uid, str(change.description["TrainingJobArn"]))
                try:
                    await self._apply(job, change.description)
                except Exception as error:  # e.g. the API server's 429: the message comes again
                    logger.info(
                        "events queue: %s/%s not written: %s", job.namespace, job.name, error
                    )
                    return "failed"
                written = True
                if change.modified is not None:
                    seen = self._shown.get(job.uid)
                    self._shown[job.uid] = max(change.modified, seen or change.modified)
        return "applied" if written else "stale"

    def forget_all_but(self, uids: set[str]) -> None:
        for uid in set(self._shown) - uids:
            del self._shown[uid]
        for uid in set(self._locks) - uids:
            lock = self._locks[uid]
            if not lock.locked():
                del self._locks[uid]
