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
import datetime
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from kubernetes.client.exceptions import ApiException

from sagemaker_operator import metrics, names
from sagemaker_operator.controller import owned, ports, reconcile, status_writes
from sagemaker_operator.sagemaker import errors

if TYPE_CHECKING:
    from sagemaker_operator.controller.kube import Kube
    from sagemaker_operator.controller.runtime import Runtime

logger = logging.getLogger(__name__)

# Called with the owned job and SageMaker's description (None: SageMaker no longer knows it).
Apply = Callable[[owned.OwnedJob, Mapping[str, Any] | None], Awaitable[None]]
PAGE_SIZE = 100
PAGE_ATTEMPTS = 4  # a page is tried this often before the cycle gives up
PAGE_RETRY_SECONDS = 0.5  # the first retry's jitter cap; doubles per attempt
MAX_BACKOFF_INTERVALS = 3  # a failing loop waits at most this many poll intervals


def loop_delay(failures: int, interval: float, jitter: float) -> float:
    """The pause after ``failures`` failed cycles in a row: doubling, at most a few intervals,
    times ``jitter`` (0.5-1: pollers of many operators must not fall into step)."""
    doublings: int = 2 ** max(0, failures - 1)
    return min(MAX_BACKOFF_INTERVALS, doublings) * interval * jitter


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
        self._covered: set[str] = set()  # resources (uids) a listing window has included
        self._described: dict[str, tuple[Any, ...]] = {}  # summary last described, per uid
        self._last_cycle_start: datetime.datetime | None = None
        self._last_full_sweep = time.monotonic()
        self.last_progress = time.monotonic()  # a cycle ended, well or not: the loop is alive
        self.failures = 0
        self.throttled = 0  # throttled calls in the current cycle

    async def run_forever(self) -> None:
        while True:
            started = time.monotonic()
            try:
                described = await self.cycle()
            except Exception as error:
                # A SageMaker or Kubernetes fault must not end the loop: back off and go on.
                if not isinstance(error, errors.SageMakerError):
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
                    error,
                    delay,
                )
                self.last_progress = time.monotonic()
                await asyncio.sleep(delay)
                continue
            self.failures = 0
            self.last_progress = time.monotonic()
            self.finished(self.last_progress - started, described)
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
        """One listing window; describes and applies what changed; returns how many jobs it
        described. Raises on SageMaker errors."""
        cycle_start = datetime.datetime.now(datetime.UTC)
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
            return 0

        full = time.monotonic() - self._last_full_sweep >= self._full_sweep_interval
        uncovered = [
            job for jobs in running.values() for job in jobs if full or job.uid not in self._covered
        ]
        candidates = [job.watermark for job in uncovered]
        if self._last_cycle_start is not None:
            candidates.append(self._last_cycle_start)
        since = min(candidates) - self._skew

        seen: set[str] = set()
        changed: list[tuple[owned.OwnedJob, tuple[Any, ...]]] = []
        try:
            async for summary in self._list_since(since, sweep="full" if full else "recent"):
                name = summary["TrainingJobName"]
                if name not in running:
                    continue
                seen.add(name)
                mark = owned.fingerprint(
                    summary.get("TrainingJobStatus"),
                    summary.get("SecondaryStatus"),
                    owned.parse_time(summary.get("LastModifiedTime")),
                )
                changed += [
                    (job, mark)
                    for job in running[name]
                    if mark != job.fingerprint and mark != self._described.get(job.uid)
                ]
        except errors.SageMakerError:
            # NB: what the pages read so far found is applied all the same; the window does
            # not move, so the next cycle lists it again and misses nothing.
            await self._describe_all(changed, [])
            raise

        gone = [job for name, jobs in running.items() if full and name not in seen for job in jobs]
        failed = await self._describe_all(changed, gone)
        self._covered.update(job.uid for job in uncovered)
        # A job whose Describe failed stays uncovered: the next window reaches back to it.
        self._covered.difference_update(failed)
        self._last_cycle_start = cycle_start
        if full:
            self._last_full_sweep = time.monotonic()
        return len(changed) + len(gone)

    async def _list_since(self, since: datetime.datetime, *, sweep: str) -> Any:
        # Empty pages can still carry a NextToken (SageMaker filters after paging): walk on.
        params: dict[str, Any] = {
            "LastModifiedTimeAfter": since,
            "MaxResults": PAGE_SIZE,
            "SortBy": "CreationTime",
            "SortOrder": "Ascending",
        }
        while True:
            page = await self._page(params)
            metrics.POLLER_PAGES.labels(self.region, sweep).inc()
            for summary in page.get("TrainingJobSummaries", []):
                yield summary
            token = page.get("NextToken")
            if not token:
                return
            params["NextToken"] = token

    async def _page(self, params: Mapping[str, Any]) -> Mapping[str, Any]:
        """One page, retried where it failed (a throttled page 5 must not cost pages 1-4)."""
        for attempt in range(PAGE_ATTEMPTS):
            try:
                return await self._client.list_page(**params)
            except errors.TransientError as error:
                self.throttled += isinstance(error, errors.ThrottlingError)
                if attempt + 1 == PAGE_ATTEMPTS:
                    raise
                await asyncio.sleep(random.uniform(0, self._page_retry_seconds * 2**attempt))
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    async def _describe_all(
        self, changed: list[tuple[owned.OwnedJob, tuple[Any, ...]]], gone: list[owned.OwnedJob]
    ) -> set[str]:
        """Describe and apply each job; return the uids whose Describe or status write failed.

        One failed Describe costs only its job, retried next cycle; only when every Describe
        fails (SageMaker is down or throttling everything) does the cycle fail and back off.
        """
        gate = asyncio.Semaphore(self._concurrency)
        failed: dict[str, Exception] = {}

        async def describe(job: owned.OwnedJob, mark: tuple[Any, ...] | None) -> None:
            async with gate:
                try:
                    description: Mapping[str, Any] | None = await self._client.describe(
                        job.job_name
                    )
                except errors.JobNotFoundError:
                    description = None
                except errors.SageMakerError as error:  # throttled, or refused: this job only
                    self.throttled += isinstance(error, errors.ThrottlingError)
                    failed[job.uid] = error
                    return
                try:
                    await self._apply(job, description)
                except Exception as error:  # e.g. the API server's 429: this job, next cycle
                    failed[job.uid] = error
                    return
                if mark is not None:
                    self._described[job.uid] = mark

        await asyncio.gather(
            *(describe(job, mark) for job, mark in changed),
            *(describe(job, None) for job in gone),
        )
        if failed and len(failed) == len(changed) + len(gone):
            raise next(iter(failed.values()))
        if failed:
            weather = all(isinstance(e, errors.ThrottlingError) for e in failed.values())
            logger.log(
                logging.INFO if weather else logging.WARNING,
                "poller %s: %d of %d jobs not updated (%s); retried next cycle",
                self.region,
                len(failed),
                len(changed) + len(gone),
                next(iter(failed.values())),
            )
        return set(failed)

    def _forget_all_but(self, uids: set[str]) -> None:
        self._covered.intersection_update(uids)
        for uid in set(self._described) - uids:
            del self._described[uid]

    def _report_counts(self) -> None:
        counts: dict[str, int] = {}
        for job in self._index.in_region(self.region):
            key = str(job.status.get("trainingJobStatus") or job.status.get("phase") or "Unknown")
            counts[key] = counts.get(key, 0) + 1
        for status in ("InProgress", "Stopping", "Completed", "Failed", "Stopped"):
            metrics.JOBS.labels(self.region, status).set(counts.get(status, 0))


class BulkObservation:
    """The pollers, one per region with owned jobs, and the status writes of what they see."""

    describes_stopping_jobs = False  # the pollers report a stopped job; deletions just wait

    def __init__(self) -> None:
        self.pollers: dict[str, RegionPoller] = {}

    async def run(self, runtime: Runtime) -> None:
        """Start a poller for each region as owned jobs appear there; runs until cancelled."""
        tasks: list[asyncio.Task[None]] = []
        try:
            while True:
                # NB: only Regions SageMaker has: a status naming another (written by hand)
                # must not cost a client, a thread pool and a metrics label.
                for region in (runtime.owned.regions() & runtime.regions) - set(self.pollers):
                    poller = RegionPoller(
                        runtime.clients.polling(region),
                        runtime.owned,
                        functools.partial(self._track, runtime),
                        interval=runtime.settings.poll_interval_seconds,
                        concurrency=runtime.settings.thread_pool_size,
                        full_sweep_interval=runtime.settings.full_sweep_interval_seconds,
                        skew=runtime.settings.clock_skew_seconds,
                    )
                    self.pollers[region] = poller
                    tasks.append(asyncio.create_task(poller.run_forever(), name=f"poller/{region}"))
                await asyncio.sleep(runtime.settings.poll_interval_seconds)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def health(self, limit: float) -> dict[str, float]:
        """Seconds since each poller last finished a cycle; raises if one is older than limit."""
        ages = {region: time.monotonic() - p.last_progress for region, p in self.pollers.items()}
        stuck = {region: age for region, age in ages.items() if age > limit}
        if stuck:
            raise RuntimeError(f"poller stuck for {stuck} seconds")
        return ages

    @staticmethod
    async def _track(
        runtime: Runtime, job: owned.OwnedJob, description: Mapping[str, Any] | None
    ) -> None:
        owned_by_it = description is None or await _owns(runtime, job, description)
        kube = runtime.poll_kube
        try:
            outcome = await _write(kube, job, description, owned_by_it)
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
            outcome = await _write(kube, job, description, owned_by_it)
        if outcome is None:
            return  # nothing changed, or the resource is gone
        metrics.STATUS_PATCHES.inc()
        modified = owned.parse_time((description or {}).get("LastModifiedTime"))
        if modified is not None:
            metrics.STATUS_LAG.observe(max(0.0, time.time() - modified.timestamp()))
        # The status is written; its Events follow in their own lane, so the next job's
        # status patch does not wait behind them.
        for type_, reason, message in outcome.events:
            kube.emit(job.ref, type_, reason, message)


async def _write(
    kube: Kube,
    job: owned.OwnedJob,
    description: Mapping[str, Any] | None,
    owned_by_it: bool,
) -> reconcile.Outcome | None:
    """Write what ``description`` makes of ``job``, onto the version it was read from; the
    outcome if a patch landed (a 409 is raised if the resource changed meanwhile)."""
    outcome = reconcile.track(job, description, owned_by_it=owned_by_it)
    landed = await status_writes.write_changes(
        kube,
        job.namespace,
        job.name,
        job.status,
        outcome.status,
        resource_version=job.resource_version,
    )
    return outcome if landed else None


async def _owns(runtime: Runtime, job: owned.OwnedJob, description: Mapping[str, Any]) -> bool:
    """Whether the described job carries the resource's uid tag (asked once per process).

    The status that names the job can be written by anyone allowed to write status; the tag
    is the proof. Jobs this process created or adopted are vouched for already.
    """
    arn = str(description["TrainingJobArn"])
    if runtime.owned.vouched(job.uid, arn):
        return True
    tags = await runtime.clients.polling(job.region).tags(arn)
    if tags.get(names.TAG_UID) != job.uid:
        return False
    runtime.owned.vouch(job.uid, arn)
    return True
