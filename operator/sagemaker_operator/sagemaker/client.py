"""One SageMaker client per region, every call through that region's token bucket.

boto3 is blocking, so calls run on a bounded thread pool; the asyncio side waits for a token
first, so a burst of a thousand new resources queues here instead of earning a throttling
storm from AWS. botocore's own retries are off: a retry that bypassed the bucket would spend
the budget twice, so every retry goes back through the bucket: a handler's call a few times
here, then kopf's handler retry; a poller's page where it failed, or its job next cycle.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import random
from collections.abc import Mapping
from concurrent.futures import Executor
from typing import Any

import boto3
from aiolimiter import AsyncLimiter
from botocore.config import Config

from sagemaker_operator import __version__, metrics
from sagemaker_operator.sagemaker import budget as budget_
from sagemaker_operator.sagemaker import errors

Response = dict[str, Any]
CALL_ATTEMPTS = 3  # a handler's call, tried this often before its handler retries
CALL_RETRY_SECONDS = 0.5  # the first retry's jitter cap; doubles per attempt


class RegionClient:
    """Async facade over one region's boto3 SageMaker client."""

    def __init__(
        self,
        region: str,
        *,
        endpoint_url: str | None,
        calls_per_second: float,
        burst: int,
        executor: Executor,
        pool_size: int,
        budget: budget_.Budget,
        lane: budget_.Lane = budget_.Lane.RECONCILE,
    ) -> None:
        self.region = region
        self._executor = executor
        self._budget = budget
        self._lane = lane
        # AsyncLimiter(max_rate, period) lets max_rate calls through per period, bursting up
        # to max_rate: a bucket of `burst` tokens refilled at `calls_per_second`.
        self._limiter = AsyncLimiter(burst, burst / calls_per_second)
        self._config = Config(
            retries={"mode": "standard", "total_max_attempts": 1},
            max_pool_connections=pool_size,
            user_agent_extra=f"sagemaker-operator/{__version__}",
            connect_timeout=10,
            read_timeout=30,
        )
        self._endpoint_url = endpoint_url
        self._client = boto3.session.Session().client(
            "sagemaker", region_name=region, endpoint_url=endpoint_url, config=self._config
        )
        self._logs: Any = None  # CloudWatch Logs' client, made on first use (failure tails)

    async def call(self, operation: str, **params: Any) -> Response:
        """Call ``operation`` (botocore's snake_case name); raise :mod:`errors` classes.

        The operation's own budget first (in this client's lane), then the region's overall
        one; a throttle slows the operation's bucket down. In the handlers' lane a transient
        fault (throttling, 5xx, network) is tried again here, a few times, with jitter and
        each time back through the budget: one throttled call out of a delete's three must
        not cost the whole handler a retry, whose backoff grows to minutes. The pollers
        retry in their own way (a page where it failed, a job next cycle).
        """
        attempts = CALL_ATTEMPTS if self._lane is budget_.Lane.RECONCILE else 1
        for attempt in range(attempts):
            try:
                return await self._call(self._client, operation, params)
            except errors.TransientError:
                if attempt + 1 == attempts:
                    raise
                await asyncio.sleep(random.uniform(0, CALL_RETRY_SECONDS * 2**attempt))
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    async def _call(self, client: Any, operation: str, params: dict[str, Any]) -> Response:
        method = getattr(client, operation)
        api_name = client.meta.method_to_api_mapping[operation]
        await self._budget.acquire(self._lane, api_name)
        async with self._limiter:
            loop = asyncio.get_running_loop()
            try:
                response: Response = await loop.run_in_executor(
                    self._executor, functools.partial(method, **params)
                )
            except Exception as exc:
                error = errors.classify(exc)
                metrics.SAGEMAKER_CALLS.labels(self.region, operation, error.code).inc()
                if isinstance(error, errors.ThrottlingError):
                    metrics.SAGEMAKER_THROTTLES.labels(self.region, operation).inc()
                    self._budget.throttled(self._lane, api_name)
                raise error from exc
        metrics.SAGEMAKER_CALLS.labels(self.region, operation, "ok").inc()
        response.pop("ResponseMetadata", None)
        return response

    def on(self, executor: Executor, lane: budget_.Lane) -> RegionClient:
        """The same client and the same budgets, its calls in ``lane`` run on ``executor``."""
        sibling = copy.copy(self)
        sibling._executor = executor
        sibling._lane = lane
        return sibling

    async def log_events(self, group: str, stream: str, **params: Any) -> Response:
        """One CloudWatch Logs ``GetLogEvents`` call, in this region's budget like the rest.

        The endpoint override, when there is one, serves Logs too (the emulator does).
        """
        if self._logs is None:
            self._logs = boto3.session.Session().client(
                "logs",
                region_name=self.region,
                endpoint_url=self._endpoint_url,
                config=self._config,
            )
        params = {"logGroupName": group, "logStreamName": stream, **params}
        return await self._call(self._logs, "get_log_events", params)

    async def describe(self, job_name: str) -> Response:
        return await self.call("describe_training_job", TrainingJobName=job_name)

    async def create(self, request: Mapping[str, Any]) -> Response:
        return await self.call("create_training_job", **request)

    async def update(self, request: Mapping[str, Any]) -> Response:
        return await self.call("update_training_job", **request)

    async def stop(self, job_name: str) -> Response:
        return await self.call("stop_training_job", TrainingJobName=job_name)

    async def tags(self, arn: str) -> dict[str, str]:
        """Every tag of a job (paged), as a plain mapping."""
        found: dict[str, str] = {}
        params: dict[str, Any] = {"ResourceArn": arn, "MaxResults": 100}
        while True:
            page = await self.call("list_tags", **params)
            found.update({tag["Key"]: tag["Value"] for tag in page.get("Tags", [])})
            if not page.get("NextToken"):
                return found
            params["NextToken"] = page["NextToken"]

    async def add_tags(self, arn: str, tags: Mapping[str, str]) -> Response:
        pairs = [{"Key": key, "Value": value} for key, value in tags.items()]
        return await self.call("add_tags", ResourceArn=arn, Tags=pairs)

    async def list_page(self, **params: Any) -> Response:
        return await self.call("list_training_jobs", **params)


class SageMakerClients:
    """The region -> client registry; clients are made on first use and shared by all.

    The pollers' calls run on threads of their own (:meth:`polling`) within the same budget,
    so their Describes never queue behind a backlog of creates (docs/performance.md).
    """

    def __init__(
        self,
        *,
        endpoint_url: str | None,
        calls_per_second: float,
        burst: int,
        executor: Executor,
        poll_executor: Executor,
        pool_size: int,
        rates: Mapping[str, budget_.Rate],
        observation_share: float,
    ) -> None:
        self._make = functools.partial(
            RegionClient,
            endpoint_url=endpoint_url,
            calls_per_second=calls_per_second,
            burst=burst,
            executor=executor,
            pool_size=2 * pool_size,  # the handlers' threads and the pollers'
        )
        self._budget = functools.partial(budget_.Budget, rates, observation_share=observation_share)
        self._poll_executor = poll_executor
        self._clients: dict[str, RegionClient] = {}
        self._polling: dict[str, RegionClient] = {}

    def __getitem__(self, region: str) -> RegionClient:
        if region not in self._clients:
            self._clients[region] = self._make(region, budget=self._budget())
        return self._clients[region]

    def polling(self, region: str) -> RegionClient:
        """The region's client for its poller: same budget, the pollers' own threads."""
        if region not in self._polling:
            self._polling[region] = self[region].on(self._poll_executor, budget_.Lane.OBSERVE)
        return self._polling[region]
