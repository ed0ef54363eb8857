"""Observation in bulk: one poller per region keeps every owned job's status true to SageMaker.

Each cycle pages through ``ListTrainingJobs`` filtered by ``LastModifiedTimeAfter`` (the last
cycle's start less a clock-skew overlap), and describes only the owned jobs whose summary
(status, secondary status, last-modified time) differs from what their resource shows. So the
steady-state cost grows with the number of *changes*, not of jobs, and terminal jobs cost
nothing. Jobs the poller has not yet covered (new resources, or all of them after a restart)
pull the window back to their own watermark, so a restart resumes from the resources' status
with list pages, not a describe per resource. A slow full sweep widens the window to the
oldest running job and describes any running job the listing no longer shows.

:class:`BulkObservation` runs the pollers (one per region with owned jobs, added as regions
appear) and writes what :func:`reconcile.track` makes of each description. It is the
operator's default observation strategy; ``running.run(observation=...)`` is the seam where
another one (the benchmark's per-resource baseline) plugs in.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from kubernetes.client.exceptions import ApiException

from sagemaker_operator import metrics, names
from sagemaker_operator.controller import (
    failure_logs,
    owned,
    ports,
    proofs,
    reconcile,
    state_changes,
    status_writes,
    window_hints,
)
from sagemaker_operator.controller.kube import FAULTS as KUBE_FAULTS
from sagemaker_operator.controller.kube import fault_text
from sagemaker_operator.sagemaker import budget, errors
from sagemaker_operator.sagemaker.queue import EventQueue, region_of

if TYPE_CHECKING:
    from sagemaker_operator.config import Settings
    from sagemaker_operator.controller.kube import Kube
    from sagemaker_operator.controller.runtime import Runtime

logger = logging.getLogger(__name__)

# Called with the owned job and SageMaker's description (None: SageMaker no longer knows it).
Apply = Callable[[owned.OwnedJob, Mapping[str, Any] | None], Awaitable[None]]
PAGE_SIZE = 100
# NB: six, not four: with 20 % of calls throttled and 5 % answered 5xx (the fault run) a
# page fails four tries in a row about once in 250, and a listing at 1,000 jobs is ten pages:
# a cycle in 25 failed, and everything after that page (the newest jobs: pages go in
# creation order) waited for the loop's backoff and a whole new listing. Session 13's run
# showed jobs created just then 40 s late for it. Six fail together once in 4,000.
PAGE_ATTEMPTS = 6  # a page, Describe or ListTags is tried this often before its job waits
PAGE_RETRY_SECONDS = 0.5  # the first retry's jitter cap; doubles per attempt...
PAGE_RETRY_CAP_SECONDS = 2.0  # ...up to this: a page's tries stay within a cycle's interval
MAX_BACKOFF_INTERVALS = 3  # a failing loop waits at most this many poll intervals
VISIBILITY_SECONDS = 60  # an unacknowledged event comes back after this (a failed write)
IN_FLIGHT = frozenset({"InProgress", "Stopping"})  # a summary tells enough of these
# A Describe's cost in List pages: the default rates (ListTrainingJobs 2/s, DescribeTrainingJob
# 10/s of which observation has half) make one page worth 2.5 Describes.
DESCRIBE_WEIGHT = 0.4
SPLIT_AT_JOBS = 2 * PAGE_SIZE  # a listing of this many jobs of ours walks in parts at once
MAX_WALKS = 4  # ... in at most this many parts
OVERLAP = datetime.timedelta(seconds=1)
T = TypeVar("T")
# A listing's summaries, and the SageMaker error that ended it early (None: it read all).
Read = tuple[list[Mapping[str, Any]], errors.SageMakerError | None]


def walk_count(jobs: int) -> int:
    """How many creation-time ranges a listing of ``jobs`` of ours walks at once.

    A walk's pages go one after another (each needs the last one's ``NextToken``), so one
    walk is as slow as SageMaker's answers and this process's event loop: the 10,000-job
    restart read 100 pages in 60 s instead of the budget's 51 while kopf's first pass kept
    the loop busy, and with two walks still in 55 s. Walks at once keep the List budget the
    bound while a page's round trip takes up to that many tokens' time; each costs at most
    one partial page more. Under ``SPLIT_AT_JOBS`` jobs, one walk (it is short).
    """
    if jobs < SPLIT_AT_JOBS:
        return 1
    return min(MAX_WALKS, jobs // PAGE_SIZE)


def splits_of(
    created_after: datetime.datetime, created: list[datetime.datetime]
) -> tuple[datetime.datetime, ...]:
    """Where a listing splits into :func:`walk_count` walks: the creation times that divide
    the jobs listed into equal parts (none: one walk)."""
    count = walk_count(len(created))
    ordered = sorted(created)
    return tuple(ordered[len(ordered) * i // count] for i in range(1, count))


def walks(
    created_after: datetime.datetime, splits: tuple[datetime.datetime, ...]
) -> list[tuple[datetime.datetime, datetime.datetime | None]]:
    """The creation-time ranges walked at once: ``(after, before)``, None: now. Split at each
    of ``splits`` with a second of overlap (both bounds are strict, times whole seconds at
    worst); a split too close to its range's start is dropped."""
    ranges: list[tuple[datetime.datetime, datetime.datetime | None]] = []
    lower = created_after
    for split in splits:
        if split - OVERLAP <= lower:
            continue
        ranges.append((lower, split))
        lower = split - OVERLAP
    ranges.append((lower, None))
    return ranges


def split(listed: list[owned.OwnedJob], seen: list[str], describe_weight: float) -> set[str]:
    """The oldest running jobs to describe each cycle instead of listing from them.

    ``seen`` is a full listing in creation order (every job of the window, ours or not). A
    listing that starts at the job ``k``-th in it costs ``(len(seen) - k) / PAGE_SIZE`` pages;
    describing each older one costs ``describe_weight`` pages. One long-running job would
    otherwise keep every cycle reading all that the account created since it started (a
    week-long run: a week of other jobs). The split is taken where the total is least, and
    only if it saves at least a page a cycle.
    """
    position = {name: i for i, name in enumerate(seen)}
    order = sorted((position[job.job_name], job.uid) for job in listed if job.job_name in position)
    if not order:
        return set()

    def cost(k: int) -> float:
        pages = math.ceil((len(seen) - order[k][0]) / PAGE_SIZE) if k < len(order) else 0
        return k * describe_weight + pages

    best = min(range(len(order) + 1), key=cost)
    if cost(0) - cost(best) < 1:
        return set()
    return {uid for _, uid in order[:best]}


def loop_delay(failures: int, interval: float, jitter: float) -> float:
    """The pause after ``failures`` failed cycles in a row: doubling, at most a few intervals,
    times ``jitter`` (0.5-1: pollers of many operators must not fall into step)."""
    doublings: int = 2 ** max(0, failures - 1)
    return min(MAX_BACKOFF_INTERVALS, doublings) * interval * jitter


async def retried(
    call: Callable[[], Awaitable[T]],
    retry_seconds: float = PAGE_RETRY_SECONDS,
    on_throttle: Callable[[], None] = lambda: None,
) -> T:
    """``call``, tried again on a transient fault (PAGE_ATTEMPTS tries): after a throttle
    as soon as the budget has a token, after any other fault with a jittered backoff."""
    for attempt in range(PAGE_ATTEMPTS):
        try:
            return await call()
        except errors.TransientError as error:
            throttled = isinstance(error, errors.ThrottlingError)
            if throttled:
                on_throttle()
            if attempt + 1 == PAGE_ATTEMPTS:
                raise
            if not throttled:
                # NB: a throttle's wait is the budget's: the client emptied and slowed the
                # operation's bucket, so the retry leaves after one token's time. A jittered
                # backoff on top spreads many callers, and a region's poller is one; the
                # 10,000-job restart lost about a second a throttled page to it.
                cap = min(PAGE_RETRY_CAP_SECONDS, retry_seconds * 2**attempt)
                await asyncio.sleep(random.uniform(0, cap))
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def is_weather(error: Exception) -> bool:
    """A fault that says only "not now": SageMaker's throttle, or the API server's 409 (a
    handler wrote the resource meanwhile) and 429."""
    if isinstance(error, ApiException):
        return error.status in (409, 429)
    return isinstance(error, errors.ThrottlingError)


class Changes:
    """One cycle's changes on their way: at most ``concurrency`` described or written at
    once, and the uids of those that failed."""

    def __init__(self, concurrency: int) -> None:
        self.gate = asyncio.Semaphore(concurrency)
        self.failed: dict[str, Exception] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, change: Coroutine[Any, Any, None]) -> None:
        self._tasks.append(asyncio.create_task(change))

    async def drain(self) -> None:
        """Every change started so far, to its end (an unexpected error is raised)."""
        for outcome in await asyncio.gather(*self._tasks, return_exceptions=True):
            if isinstance(outcome, BaseException):
                raise outcome

    def __len__(self) -> int:
        return len(self._tasks)


class RegionPoller:
    def __init__(
        self,
        client: ports.Listing,
        index: owned.OwnedIndex,
        apply: Apply,
        *,
        interval: float,
        concurrency: int,
        full_sweep_interval: float,
        skew: float,
        page_retry_seconds: float = PAGE_RETRY_SECONDS,
        describe_weight: float = DESCRIBE_WEIGHT,
        head_start: window_hints.Hint | None = None,
        ready: Callable[[], Awaitable[object]] | None = None,
        keep: Callable[[window_hints.Hint | None], Awaitable[None]] | None = None,
    ) -> None:
        self.region = client.region
        self._client = client
        self._index = index
        self._apply = apply
        self._interval = interval
        self._concurrency = concurrency  # jobs described and written at once
        self._full_sweep_interval = full_sweep_interval
        self._skew = datetime.timedelta(seconds=skew)
        self._page_retry_seconds = page_retry_seconds
        self._describe_weight = describe_weight  # a Describe's cost in List pages
        # The first cycle lists from the last process's window (window_hints) while the
        # index is read; ``ready`` returns once it is whole; ``keep`` records the window.
        self._head_start = head_start
        self._ready = ready
        self._keep = keep
        self.window: window_hints.Hint | None = None  # where the last cycle's listing began
        self._covered: set[str] = set()  # resources (uids) a listing window has included
        # uid -> (the change last applied, the index version it was applied to or shown by)
        self._applied_marks: dict[str, tuple[tuple[Any, ...], str | None]] = {}
        self._owed: set[str] = set()  # uids shown from a summary, owed a full Describe
        self._direct: set[str] = set()  # uids of old jobs described instead of listed
        # Describes a status waits on under way (a job that ended or is gone, or one described
        # instead of listed); while any is, no owed Describe starts (``calm``): both draw on
        # one Describe budget.
        self._urgent = 0
        self._calm = asyncio.Event()
        self._calm.set()
        self._last_cycle_start: datetime.datetime | None = None
        self._last_full_sweep = time.monotonic()
        self.last_progress = time.monotonic()  # a cycle ended, well or not: the loop is alive
        self.failures = 0
        self.throttled = 0  # throttled calls in the current cycle
        self.work_seconds = 0.0  # the last cycle's listing, describes and writes

    async def run_forever(self) -> None:
        while True:
            started = time.monotonic()
            try:
                described = await self.cycle()
            except Exception as error:
                # A SageMaker or Kubernetes fault must not end the loop: back off and go on.
                if not isinstance(error, (errors.SageMakerError, *KUBE_FAULTS)):
                    logger.exception("poller %s: unexpected error", self.region)
                self.failures += 1
                kind = "transient" if isinstance(error, errors.TransientError) else "permanent"
                metrics.RECONCILE_ERRORS.labels("poll", kind).inc()
                # NB: within a few intervals: the pages already retried in place, and what the
                # cycle read was applied; a long pause would only make status later.
                delay = loop_delay(self.failures, self._interval, random.uniform(0.5, 1.0))
                weather = isinstance(error, errors.ThrottlingError)
                logger.log(
                    logging.INFO if weather else logging.WARNING,
                    "poller %s: %s; next try in %.0fs",
                    self.region,
                    fault_text(error),
                    delay,
                )
                self.last_progress = time.monotonic()
                await asyncio.sleep(delay)
                continue
            self.failures = 0
            self.last_progress = time.monotonic()
            # NB: the cycle's own work; paying owed Describes only fills the interval's rest.
            self.finished(self.work_seconds, described)
            if self._keep is not None:
                await self._keep(self.window)
            await asyncio.sleep(max(0.0, self._interval - (time.monotonic() - started)))

    def finished(self, took: float, described: int) -> None:
        """Record a completed cycle; one longer than the interval means status falls behind."""
        metrics.POLLER_CYCLE.labels(self.region).observe(took)
        if self.throttled:  # weather, not an error: said once per cycle
            logger.info("poller %s: %d calls throttled this cycle", self.region, self.throttled)
            self.throttled = 0
        if took > self._interval:
            logger.warning(
                "poller %s: cycle took %.1fs (%d jobs described), longer than the %.0fs interval",
                self.region,
                took,
                described,
                self._interval,
            )
        metrics.POLLER_LAST_SUCCESS.labels(self.region).set(time.time())

    async def cycle(self) -> int:
        """One listing window; applies what changed; returns how many jobs it described or
        wrote. Raises on SageMaker errors."""
        started = time.monotonic()
        cycle_start = datetime.datetime.now(datetime.UTC)
        early = self._begin_head_start()
        try:
            return await self._cycle(started, cycle_start, early)
        finally:
            if early is not None and not early[1].done():
                early[1].cancel()  # a page asked is paid; its answer is not needed
                await asyncio.gather(early[1], return_exceptions=True)

    def _begin_head_start(self) -> tuple[datetime.datetime, asyncio.Task[Read]] | None:
        """The first cycle's listing from the last process's window, begun before the index
        is whole: where it begins, and the walk."""
        hint, self._head_start = self._head_start, None
        if hint is None:
            return None
        read = self._read(walks(hint.created_after, hint.splits), None, full=False)
        return hint.created_after, asyncio.create_task(read)

    async def _cycle(
        self,
        started: float,
        cycle_start: datetime.datetime,
        early: tuple[datetime.datetime, asyncio.Task[Read]] | None,
    ) -> int:
        if self._ready is not None:
            await self._ready()
        # NB: by name, a list: two resources can name one job (one of them by a status someone
        # else wrote); each is judged on its own, neither hides the other.
        running: dict[str, list[owned.OwnedJob]] = {}
        for job in self._index.in_region(self.region):
            if not job.terminal:
                running.setdefault(job.job_name, []).append(job)
        self._forget_all_but({job.uid for jobs in running.values() for job in jobs})
        self._report_counts()
        if not running:
            self._last_cycle_start = cycle_start
            self.window = None
            self.work_seconds = time.monotonic() - started
            return 0

        everyone = [job for jobs in running.values() for job in jobs]
        direct = [job for job in everyone if job.uid in self._direct]
        listed = [job for job in everyone if job.uid not in self._direct]
        listed_names = {job.job_name for job in listed}
        self._overwritten(listed)
        full = time.monotonic() - self._last_full_sweep >= self._full_sweep_interval
        uncovered = [job for job in listed if full or job.uid not in self._covered]
        # A status written from a summary before a restart still owes its Describe.
        self._owed.update(
            job.uid for job in listed if job.uid not in self._covered and not job.described_fully
        )

        # Debts already owed are paid beside the listing, whose pages wait on a 2/s budget
        # (at 10,000 running jobs a cycle lists for 50 s, longer than the interval): for as
        # long as the last cycle took, at least the interval.
        paying = asyncio.create_task(
            self._pay_owed(running, max(self._interval, self.work_seconds))
        )
        changes = Changes(self._concurrency)
        judged: set[str] = set()

        def judge(summary: Mapping[str, Any]) -> None:
            """Start applying what a summary shows changed, as soon as its page is read: a
            change on the first of a listing's 100 pages is not held until the last is in."""
            name = summary["TrainingJobName"]
            if name in judged or name not in listed_names:
                return  # NB: a job in two parts' overlap is judged once
            judged.add(name)
            mark = owned.fingerprint_of(summary)
            for job in running[name]:
                if (
                    job.uid not in self._direct
                    and mark != job.fingerprint
                    and not self._applied(job, mark)
                ):
                    changes.start(self._change(job, mark, summary, changes))

        try:
            seen: list[str] = []  # every job the listing showed, in creation order
            shown: set[str] = set()  # the same, to tell a job in two parts' overlap
            if listed:
                # Only the creation window bounds what SageMaker reads (docs/emulator.md): from
                # the oldest listed job on, never the account's past.
                # NB: a second more: CreationTimeAfter is strict, and the oldest must be in it.
                oldest = min(job.created_not_before for job in listed)
                created_after = oldest - self._skew - datetime.timedelta(seconds=1)
                modified_after = None
                if not full:
                    candidates = [job.watermark for job in uncovered]
                    if self._last_cycle_start is not None:
                        candidates.append(self._last_cycle_start)
                    modified_after = min(candidates) - self._skew
                created = [job.created_not_before for job in listed]
                window = window_hints.Hint(created_after, splits_of(created_after, created))
                if early is None:
                    summaries, error = await self._read(
                        walks(window.created_after, window.splits),
                        modified_after,
                        full=full,
                        each=judge,
                    )
                else:
                    # The head start walked from the hint on; the window may begin earlier.
                    hinted_after, head_start = early
                    gap: list[tuple[datetime.datetime, datetime.datetime | None]] = (
                        [(created_after, hinted_after + OVERLAP)]
                        if created_after < hinted_after
                        else []
                    )
                    (older, gap_error), (newer, error) = await asyncio.gather(
                        self._read(gap, modified_after, full=full, each=judge), head_start
                    )
                    summaries, error = older + newer, gap_error or error
                for summary in summaries:
                    name = summary["TrainingJobName"]
                    if name in shown:
                        continue  # in two parts' overlap
                    shown.add(name)
                    seen.append(name)
                    judge(summary)  # the head start's, read before the index was whole
                if error is not None:
                    # NB: what the pages read so far found is applied all the same; the window
                    # does not move, so the next cycle lists it again and misses nothing.
                    await self._settle(changes)
                    raise error
                self.window = window
            else:
                self.window = None

            gone = [job for job in listed if full and job.job_name not in shown]
            for job in gone + direct:
                changes.start(self._describe_one(job, None, changes))
            failed = await self._settle(changes)
            self._covered.update(job.uid for job in uncovered)
            # A job whose Describe failed stays uncovered: the next window reaches back to it.
            self._covered.difference_update(failed)
            self._last_cycle_start = cycle_start
            if full:
                self._last_full_sweep = time.monotonic()
                self._direct |= split(listed, seen, self._describe_weight)

            # NB: the cycle's own work; paying debts only fills the interval (or the listing).
            self.work_seconds = time.monotonic() - started
        finally:
            await changes.drain()  # started calls are paid; their writes land
            if not paying.done():
                await asyncio.wait([paying])  # bounded by its deadline (and calls started)
        # What is left of the interval settles the debts this cycle's summaries made.
        await self._pay_owed(running, self._interval - (time.monotonic() - started))
        return len(changes)

    async def _read(
        self,
        ranges: list[tuple[datetime.datetime, datetime.datetime | None]],
        modified_after: datetime.datetime | None,
        *,
        full: bool,
        each: Callable[[Mapping[str, Any]], None] | None = None,
    ) -> Read:
        """The summaries of each creation-time range in turn, the ranges walked at once
        (:func:`walks`), and the SageMaker error that ended one early (what every range read
        is kept); any other error is raised. ``each`` is told every summary as its page
        arrives."""
        parts: list[list[Mapping[str, Any]]] = [[] for _ in ranges]

        async def walk(
            part: list[Mapping[str, Any]],
            after: datetime.datetime,
            before: datetime.datetime | None,
        ) -> None:
            async for summary in self._walk(after, before, modified_after, full=full):
                part.append(summary)
                if each is not None:
                    each(summary)

        outcomes = await asyncio.gather(
            *(walk(part, *bounds) for part, bounds in zip(parts, ranges, strict=True)),
            return_exceptions=True,
        )
        read = [summary for part in parts for summary in part]
        for outcome in outcomes:
            if isinstance(outcome, errors.SageMakerError):
                return read, outcome
            if isinstance(outcome, BaseException):
                raise outcome
        return read, None

    async def _walk(
        self,
        created_after: datetime.datetime,
        created_before: datetime.datetime | None,
        modified_after: datetime.datetime | None,
        *,
        full: bool,
    ) -> Any:
        # Empty pages can still carry a NextToken (SageMaker filters after paging): walk on.
        params: dict[str, Any] = {
            "CreationTimeAfter": created_after,
            "MaxResults": PAGE_SIZE,
            "SortBy": "CreationTime",
            "SortOrder": "Ascending",
        }
        if created_before is not None:
            params["CreationTimeBefore"] = created_before
        if modified_after is not None:
            # NB: filtered after each page is read: it saves no page, only bytes.
            params["LastModifiedTimeAfter"] = modified_after
        while True:
            page = await self._page(params)
            metrics.POLLER_PAGES.labels(self.region, "full" if full else "recent").inc()
            for summary in page.get("TrainingJobSummaries", []):
                yield summary
            token = page.get("NextToken")
            if not token:
                return
            params["NextToken"] = token

    async def _page(self, params: Mapping[str, Any]) -> Mapping[str, Any]:
        """One page, retried where it failed (a throttled page 5 must not cost pages 1-4)."""
        return await self._retried(functools.partial(self._client.list_page, **params))

    async def _retried(self, call: Callable[[], Awaitable[Mapping[str, Any]]]) -> Mapping[str, Any]:
        return await retried(call, self._page_retry_seconds, self._count_throttle)

    def _count_throttle(self) -> None:
        self.throttled += 1

    async def _change(
        self,
        job: owned.OwnedJob,
        mark: tuple[Any, ...],
        summary: Mapping[str, Any],
        changes: Changes,
    ) -> None:
        """Apply one listed change. A job still in progress is shown from its summary at once
        (status, secondary status, times: what a person or a workflow waits on) and owes a
        full Describe, paid as the budget allows. A job that ended is described before
        anything is written: its outputs (model artifacts, metrics, failure reason) must be
        there when its phase says it ended."""
        if summary.get("TrainingJobStatus") not in IN_FLIGHT:
            await self._describe_one(job, mark, changes)
            return
        async with changes.gate:
            if self._shows(job, mark):
                self._remember(job.uid, mark)
                return
            try:
                await self._apply(job, summary)
            except Exception as error:  # e.g. the API server's 429: this job, next cycle
                changes.failed[job.uid] = error
                return
            self._remember(job.uid, mark)
            self._owed.add(job.uid)

    async def _describe_one(
        self, job: owned.OwnedJob, mark: tuple[Any, ...] | None, changes: Changes
    ) -> None:
        with self._urgently():
            async with changes.gate:
                if mark is not None and self._shows(job, mark):
                    self._remember(job.uid, mark)
                    return
                error = await self._describe_and_apply(job)
                if error is not None:
                    changes.failed[job.uid] = error

    @contextlib.contextmanager
    def _urgently(self) -> Iterator[None]:
        """While a status waits on this Describe, owed Describes (which only fill in detail
        of a status already shown) start none: in the N = 1,000 fault run the payer's 16
        Describes at a time took the Describe budget from the jobs that had been stopped,
        whose cycles grew from 16 to 25 s and whose Stopped showed up to 43 s late."""
        self._urgent += 1
        self._calm.clear()
        try:
            yield
        finally:
            self._urgent -= 1
            if not self._urgent:
                self._calm.set()

    async def _settle(self, changes: Changes) -> set[str]:
        """Wait for the cycle's changes; return the uids whose Describe or status write
        failed. One failed call costs only its job, retried next cycle; only when every one
        fails (SageMaker down or throttling everything) does the cycle fail."""
        await changes.drain()
        failed, attempted = changes.failed, len(changes)
        if failed and len(failed) == attempted:
            raise next(iter(failed.values()))
        if failed:
            weather = all(is_weather(e) for e in failed.values())
            logger.log(
                logging.INFO if weather else logging.WARNING,
                "poller %s: %d of %d jobs not updated (%s); retried next cycle",
                self.region,
                len(failed),
                attempted,
                fault_text(next(iter(failed.values()))),
            )
        return set(failed)

    def _shows(self, job: owned.OwnedJob, mark: tuple[Any, ...]) -> bool:
        """Whether the resource shows the listed change, or a newer one, by now.

        With an events queue, a sweep that lists while a burst's events are being written
        finds hundreds of changes the consumer writes a moment later: describing each ended
        one at the pollers' Describe rate, and writing it onto the version the cycle read
        (a 409, a read, a write), is work done twice.
        """
        current = self._index.get(job.uid)
        if current is None or current is job:
            return False
        modified = mark[2]
        newer = modified is not None and int(current.watermark.timestamp()) > modified
        return current.fingerprint == mark or newer

    async def _describe_and_apply(self, job: owned.OwnedJob) -> Exception | None:
        """Describe one job and write what it says; the error, if either failed.

        A transient fault is tried again where it failed, like a page: in the fault run a
        job whose Describe was throttled waited a whole cycle per throttle, and the ends of
        jobs showed up to a minute late.
        """
        description: Mapping[str, Any] | None
        try:
            description = await self._retried(
                functools.partial(self._client.describe, job.job_name)
            )
        except errors.JobNotFoundError:
            description = None
        except errors.SageMakerError as error:  # refused, or failed every try: next cycle
            return error
        try:
            await self._apply(job, description)
        except Exception as error:  # e.g. the API server's 429: this job, next cycle
            return error
        self._owed.discard(job.uid)
        if description is not None:
            # NB: what was described, which may be newer than the summary that asked: a later
            # listing showing it is then no change (the index may not show the write yet).
            self._remember(job.uid, owned.fingerprint_of(description))
        return None

    async def _pay_owed(self, running: Mapping[str, list[owned.OwnedJob]], seconds: float) -> None:
        """Describe jobs shown from their summary, starting none after ``seconds``.

        NB: a Describe once started is never abandoned: cancelled on the wire, SageMaker
        answered it all the same, and the job, still owed, cost a second Describe next cycle
        (the bulk test saw 41 Describes for 36 changes on a loaded machine). Those started
        run to their end, at most ``concurrency`` of them; the rest wait for the next cycle.
        """
        by_uid = {job.uid: job for jobs in running.values() for job in jobs}
        self._owed &= set(by_uid)
        metrics.POLLER_OWED.labels(self.region).set(len(self._owed))
        if not self._owed:
            return
        gate = asyncio.Semaphore(self._concurrency)
        deadline = time.monotonic() + max(seconds, 0.0)

        async def pay(job: owned.OwnedJob) -> None:
            async with gate:
                await self._calm.wait()
                if time.monotonic() < deadline:
                    await self._describe_and_apply(job)

        await asyncio.gather(*(pay(by_uid[uid]) for uid in sorted(self._owed)))
        metrics.POLLER_OWED.labels(self.region).set(len(self._owed))

    def _remember(self, uid: str, mark: tuple[Any, ...]) -> None:
        """``mark`` is applied: a later listing showing it is no change while the index still
        shows the version it was applied to (the watch may not show the write yet)."""
        current = self._index.get(uid)
        self._applied_marks[uid] = (mark, current.resource_version if current else None)

    def _applied(self, job: owned.OwnedJob, mark: tuple[Any, ...]) -> bool:
        # NB: no version check here: ``_overwritten`` dropped, at the cycle's start, every
        # mark whose resource has been written since.
        applied = self._applied_marks.get(job.uid)
        return applied is not None and applied[0] == mark

    def _overwritten(self, listed: list[owned.OwnedJob]) -> None:
        """Forget what was applied to a job whose resource has been written since, and list
        it again if the status no longer shows it.

        In the fault run at N = 10,000, 152 statuses stayed `Downloading` for good while
        SageMaker said `Training`: a handler's write of a description read minutes before
        landed after the poller had written `Training`, and the memory of that write made
        every later listing, full sweeps included, judge the job unchanged.
        """
        for job in listed:
            applied = self._applied_marks.get(job.uid)
            if applied is None or applied[1] == job.resource_version:
                continue
            del self._applied_marks[job.uid]
            if applied[0] != job.fingerprint:
                self._covered.discard(job.uid)  # its window reaches back to its watermark

    def _forget_all_but(self, uids: set[str]) -> None:
        self._covered.intersection_update(uids)
        self._owed.intersection_update(uids)
        self._direct.intersection_update(uids)
        for uid in set(self._applied_marks) - uids:
            del self._applied_marks[uid]

    def _report_counts(self) -> None:
        counts: dict[str, int] = {}
        for job in self._index.in_region(self.region):
            key = str(job.status.get("trainingJobStatus") or job.status.get("phase") or "Unknown")
            counts[key] = counts.get(key, 0) + 1
        for status in ("InProgress", "Stopping", "Completed", "Failed", "Stopped"):
            metrics.JOBS.labels(self.region, status).set(counts.get(status, 0))


async def prime_index(runtime: Runtime) -> None:
    """Fill the index with one LIST of the resources, before kopf's watch and the first cycle.

    The watch fills it too, but one resource at a time through kopf's workers: at 10,000
    resources over the first minute, and each cycle that met jobs not yet covered walked
    the listing window again. With the index whole, a restart walks it once.
    """
    scopes: list[str | None] = list(runtime.settings.namespaces) or [None]
    started = time.monotonic()
    for namespace in scopes:
        try:
            items = await runtime.poll_kube.list_trainingjobs(namespace)
        except ApiException as error:  # the watch fills the index all the same
            logger.warning("could not list TrainingJobs in %s: %s", namespace or "*", error)
            continue
        known = runtime.owned.uids()
        for item in items:
            meta = item.get("metadata") or {}
            uid = str(meta.get("uid", ""))
            if not uid or uid in known:
                continue  # the watch came first, with the newer version
            record = owned.record_of(
                namespace=str(meta.get("namespace")),
                name=str(meta.get("name")),
                uid=uid,
                meta=meta,
                status=item.get("status") or {},
            )
            if record is not None:
                runtime.owned.put(uid, record)
    logger.info(
        "index primed: %d resources in %.1fs", len(runtime.owned.uids()), time.monotonic() - started
    )


def describe_weight(settings: Settings) -> float:
    """A poller's Describe in List pages, by the rates it may use of each."""
    found = budget.rates(settings.operation_rates)
    describes = found["DescribeTrainingJob"].rate * settings.observation_share
    return found["ListTrainingJobs"].rate / describes


class BulkObservation:
    """The pollers, one per region with owned jobs, and the status writes of what they see."""

    describes_stopping_jobs = False  # the pollers report a stopped job; deletions just wait

    def __init__(self) -> None:
        self.pollers: dict[str, RegionPoller] = {}
        self.consumer: state_changes.QueueConsumer | None = None

    async def run(self, runtime: Runtime) -> None:
        """Start a poller for each region as owned jobs appear there, and the events queue's
        consumers if there is one; runs until cancelled.

        Starts before the index is primed: the Regions the last process listed (its listing
        hints) get their pollers at once, and the rest waits for ``runtime.primed``.
        """
        settings = runtime.settings
        tasks: list[asyncio.Task[None]] = []
        keeper: window_hints.HintKeeper | None = None
        hints: dict[str, window_hints.Hint] = {}
        lease = window_hints.lease_of(settings.listing_lease)
        if lease is not None:
            keeper = window_hints.HintKeeper(runtime.poll_kube, lease)
            hints = await keeper.read()
        try:
            # NB: only Regions SageMaker has, here and below: a status naming another
            # (written by hand) must not cost a client, a thread pool and a metrics label.
            for region in sorted(hints.keys() & runtime.regions):
                logger.info(
                    "poller %s: listing from the last process's window (created after %s) "
                    "while the index is read",
                    region,
                    hints[region].created_after.isoformat(),
                )
                tasks.append(self._start_poller(runtime, region, keeper, hints[region]))
            await runtime.primed.wait()
            if settings.events_queue_url:
                tasks += self._start_consumers(runtime)
            while True:
                if self.consumer is not None:
                    self.consumer.forget_all_but(runtime.owned.uids())
                for region in (runtime.owned.regions() & runtime.regions) - set(self.pollers):
                    tasks.append(self._start_poller(runtime, region, keeper, None))
                await asyncio.sleep(settings.poll_interval_seconds)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    @staticmethod
    def _evented(runtime: Runtime) -> str | None:
        """The Region whose events reach the queue, if there is one."""
        url = runtime.settings.events_queue_url
        return (region_of(url) or runtime.default_region) if url else None

    def _start_consumers(self, runtime: Runtime) -> list[asyncio.Task[None]]:
        settings = runtime.settings
        assert settings.events_queue_url
        queue = EventQueue(
            settings.events_queue_url,
            region=runtime.default_region,
            endpoint_url=settings.events_endpoint_url,
            executor=ThreadPoolExecutor(settings.events_consumers, thread_name_prefix="sqs"),
            visibility_seconds=VISIBILITY_SECONDS,
        )
        self.consumer = state_changes.QueueConsumer(
            queue,
            runtime.owned,
            functools.partial(self._track, runtime),
            vouch=runtime.owned.vouch,
        )
        return [
            asyncio.create_task(self.consumer.run_forever(), name=f"events/{i}")
            for i in range(settings.events_consumers)
        ]

    def _start_poller(
        self,
        runtime: Runtime,
        region: str,
        keeper: window_hints.HintKeeper | None,
        hint: window_hints.Hint | None,
    ) -> asyncio.Task[None]:
        settings = runtime.settings
        poller = RegionPoller(
            runtime.clients.polling(region),
            runtime.owned,
            functools.partial(self._track, runtime),
            # NB: EventBridge rules are per Region: only the queue's Region's events
            # arrive, the others' pollers keep polling.
            interval=settings.events_sweep_interval_seconds
            if region == self._evented(runtime)
            else settings.poll_interval_seconds,
            concurrency=settings.thread_pool_size,
            full_sweep_interval=settings.full_sweep_interval_seconds,
            skew=settings.clock_skew_seconds,
            describe_weight=describe_weight(settings),
            head_start=hint,
            ready=runtime.primed.wait,
            keep=functools.partial(keeper.keep, region) if keeper is not None else None,
        )
        self.pollers[region] = poller
        return asyncio.create_task(poller.run_forever(), name=f"poller/{region}")

    def health(self, limit: float) -> dict[str, float]:
        """Seconds since each poller last finished a cycle; raises if one is older than limit."""
        ages = {region: time.monotonic() - p.last_progress for region, p in self.pollers.items()}
        if self.consumer is not None:
            ages["events"] = time.monotonic() - self.consumer.last_progress
        stuck = {region: age for region, age in ages.items() if age > limit}
        if stuck:
            raise RuntimeError(f"poller stuck for {stuck} seconds")
        return ages

    @staticmethod
    async def _track(
        runtime: Runtime, job: owned.OwnedJob, description: Mapping[str, Any] | None
    ) -> None:
        owned_by_it = description is None or await owns(runtime, job, description)
        proof = (
            runtime.proofs.seal(job.uid, str(description["TrainingJobArn"]))
            if owned_by_it and description is not None
            else None
        )
        kube = runtime.poll_kube
        indexed = job
        try:
            outcome = await _write(kube, job, description, owned_by_it, proof)
        except ApiException as error:
            if error.status != 409:
                raise
            # The resource changed since the index read it (kopf's bookkeeping of a pending
            # deletion does, every retry): judge again from the status as it is now.
            fresh = await kube.read(job.namespace, job.name)
            if fresh is None:
                return  # the resource is gone
            meta, status = fresh.get("metadata", {}), fresh.get("status") or {}
            again = owned.record_of(
                namespace=job.namespace, name=job.name, uid=job.uid, meta=meta, status=status
            )
            if again is None:
                return  # its status no longer names a job
            job = again
            outcome = await _write(kube, job, description, owned_by_it, proof)
        if outcome is None:
            return  # nothing changed, or the resource is gone
        written, after = outcome
        # The job's next write (its next event, a moment later) goes onto this version, not
        # onto the one the watch has yet to replace: no 409 and read again in a burst.
        runtime.owned.wrote(indexed, after)
        metrics.STATUS_PATCHES.inc()
        failure_logs.after_write(runtime, job, written.status)  # opt-in; runs beside
        modified = owned.parse_time((description or {}).get("LastModifiedTime"))
        if modified is not None:
            metrics.STATUS_LAG.observe(max(0.0, time.time() - modified.timestamp()))
        # The status is written; its Events follow in their own lane, so the next job's
        # status patch does not wait behind them.
        for type_, reason, message in written.events:
            kube.emit(job.ref, type_, reason, message)


async def _write(
    kube: Kube,
    job: owned.OwnedJob,
    description: Mapping[str, Any] | None,
    owned_by_it: bool,
    proof: str | None,
) -> tuple[reconcile.Outcome, Mapping[str, Any]] | None:
    """Write what ``description`` makes of ``job``, onto the version it was read from; the
    outcome and the object as the patch left it, if a patch landed (a 409 is raised if the
    resource changed meanwhile)."""
    outcome = reconcile.track(job, description, owned_by_it=owned_by_it, proof=proof)
    after = await status_writes.write_changes(
        kube,
        job.namespace,
        job.name,
        job.status,
        outcome.status,
        resource_version=job.resource_version,
    )
    return (outcome, after) if after is not None else None


async def owns(runtime: Runtime, job: owned.OwnedJob, description: Mapping[str, Any]) -> bool:
    """Whether the described job carries the resource's uid tag (asked once per process, and
    not at all where the status holds this operator's proof of it: docs/security.md).

    The status that names the job can be written by anyone allowed to write status; the tag
    is the proof. Jobs this process created or adopted are vouched for already.
    """
    arn = str(description["TrainingJobArn"])
    if runtime.owned.vouched(job.uid, arn):
        return True
    if runtime.proofs.holds(job.uid, arn, job.status.get(proofs.FIELD)):
        runtime.owned.vouch(job.uid, arn)
        return True
    # NB: tried again in place like a Describe: after a restart every job's first write asks,
    # and in the fault run one throttled ListTags sent its job, Describe and all, to the next
    # cycle (a quarter of the jobs that ended then showed it 10-60 s late).
    tags = await retried(functools.partial(runtime.clients.polling(job.region).tags, arn))
    if tags.get(names.TAG_UID) != job.uid:
        return False
    runtime.owned.vouch(job.uid, arn)
    return True
