"""Observe in bulk: one poller per region keeps every owned job's status true to SageMaker.

Each cycle pages through ``ListTrainingJobs`` filtered by ``LastModifiedTimeAfter`` (the last
cycle's start less a clock-skew overlap), and describes only the owned jobs whose summary
(status, secondary status, last-modified time) differs from what their resource shows. So the
steady-state cost grows with the number of *changes*, not of jobs, and terminal jobs cost
nothing. Jobs the poller has not yet covered (new resources, or all of them after a restart)
pull the window back to their own watermark, so a restart resumes from the resources' status
with list pages, not a describe per resource. A slow full sweep widens the window to the
oldest running job and describes any running job the listing no longer shows.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sagemaker_operator import metrics
from sagemaker_operator.controller import owned
from sagemaker_operator.sagemaker import errors
from sagemaker_operator.sagemaker.client import RegionClient

logger = logging.getLogger(__name__)

# Called with the owned job and SageMaker's description (None: SageMaker no longer knows it).
Apply = Callable[[owned.OwnedJob, Mapping[str, Any] | None], Awaitable[None]]
PAGE_SIZE = 100
MAX_BACKOFF = 300.0


class RegionPoller:
    def __init__(
        self,
        client: RegionClient,
        index: owned.OwnedIndex,
        apply: Apply,
        *,
        interval: float,
        concurrency: int,
        full_sweep_interval: float,
        skew: float,
    ) -> None:
        self.region = client.region
        self._client = client
        self._index = index
        self._apply = apply
        self._interval = interval
        self._concurrency = concurrency  # jobs described and written at once
        self._full_sweep_interval = full_sweep_interval
        self._skew = datetime.timedelta(seconds=skew)
        self._covered: set[str] = set()  # jobs a listing window has already included
        self._described: dict[str, tuple[Any, ...]] = {}  # summary last described, per job
        self._last_cycle_start: datetime.datetime | None = None
        self._last_full_sweep = time.monotonic()
        self.last_progress = time.monotonic()  # a cycle ended, well or not: the loop is alive
        self.failures = 0

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
                delay = min(MAX_BACKOFF, self._interval * 2**self.failures)
                delay *= random.uniform(0.5, 1.0)  # jitter: pollers of many operators desync
                logger.warning("poller %s: %s; next try in %.0fs", self.region, error, delay)
                self.last_progress = time.monotonic()
                await asyncio.sleep(delay)
                continue
            self.failures = 0
            self.last_progress = time.monotonic()
            took = self.last_progress - started
            metrics.POLLER_CYCLE.labels(self.region).observe(took)
            if took > self._interval:  # status is falling behind: worth a warning
                logger.warning(
                    "poller %s: cycle took %.1fs (%d jobs described), longer than the %.0fs "
                    "interval",
                    self.region,
                    took,
                    described,
                    self._interval,
                )
            metrics.POLLER_LAST_SUCCESS.labels(self.region).set(time.time())
            await asyncio.sleep(max(0.0, self._interval - (time.monotonic() - started)))

    async def cycle(self) -> int:
        """One listing window; describes and applies what changed; returns how many jobs it
        described. Raises on SageMaker errors."""
        cycle_start = datetime.datetime.now(datetime.UTC)
        running = {
            job.job_name: job for job in self._index.in_region(self.region) if not job.terminal
        }
        self._forget_all_but(running)
        self._report_counts()
        if not running:
            self._last_cycle_start = cycle_start
            return 0

        full = time.monotonic() - self._last_full_sweep >= self._full_sweep_interval
        uncovered = [job for name, job in running.items() if full or name not in self._covered]
        candidates = [job.watermark for job in uncovered]
        if self._last_cycle_start is not None:
            candidates.append(self._last_cycle_start)
        since = min(candidates) - self._skew

        seen: set[str] = set()
        changed: list[tuple[owned.OwnedJob, tuple[Any, ...]]] = []
        async for summary in self._list_since(since, sweep="full" if full else "recent"):
            name = summary["TrainingJobName"]
            job = running.get(name)
            if job is None:
                continue
            seen.add(name)
            mark = owned.fingerprint(
                summary.get("TrainingJobStatus"),
                summary.get("SecondaryStatus"),
                owned.parse_time(summary.get("LastModifiedTime")),
            )
            if mark != job.fingerprint and mark != self._described.get(name):
                changed.append((job, mark))

        gone = [job for name, job in running.items() if full and name not in seen]
        failed = await self._describe_all(changed, gone)
        self._covered.update(job.job_name for job in uncovered)
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
            page = await self._client.list_page(**params)
            metrics.POLLER_PAGES.labels(self.region, sweep).inc()
            for summary in page.get("TrainingJobSummaries", []):
                yield summary
            token = page.get("NextToken")
            if not token:
                return
            params["NextToken"] = token

    async def _describe_all(
        self, changed: list[tuple[owned.OwnedJob, tuple[Any, ...]]], gone: list[owned.OwnedJob]
    ) -> set[str]:
        """Describe and apply each job; return the jobs whose Describe or status write failed.

        One throttled or failed Describe must not cost the whole cycle: before, a single 5xx
        among a hundred Describes failed the cycle and doubled the region's backoff, so at
        5 % errors the pollers fell minutes behind. Only when every Describe fails (SageMaker
        is down or throttling everything) does the cycle fail and back off.
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
                except errors.TransientError as error:
                    failed[job.job_name] = error
                    return
                try:
                    await self._apply(job, description)
                except Exception as error:  # e.g. the API server's 429: this job, next cycle
                    failed[job.job_name] = error
                    return
                if mark is not None:
                    self._described[job.job_name] = mark

        await asyncio.gather(
            *(describe(job, mark) for job, mark in changed),
            *(describe(job, None) for job in gone),
        )
        if failed and len(failed) == len(changed) + len(gone):
            raise next(iter(failed.values()))
        if failed:
            logger.warning(
                "poller %s: %d of %d jobs not updated (%s); retried next cycle",
                self.region,
                len(failed),
                len(changed) + len(gone),
                next(iter(failed.values())),
            )
        return set(failed)

    def _forget_all_but(self, running: Mapping[str, owned.OwnedJob]) -> None:
        self._covered.intersection_update(running)
        for name in set(self._described) - set(running):
            del self._described[name]

    def _report_counts(self) -> None:
        counts: dict[str, int] = {}
        for job in self._index.in_region(self.region):
            key = str(job.status.get("trainingJobStatus") or job.status.get("phase") or "Unknown")
            counts[key] = counts.get(key, 0) + 1
        for status in ("InProgress", "Stopping", "Completed", "Failed", "Stopped"):
            metrics.JOBS.labels(self.region, status).set(counts.get(status, 0))
