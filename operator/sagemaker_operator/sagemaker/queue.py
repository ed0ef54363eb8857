"""The SQS queue that SageMaker's job-state-change events arrive on, asynchronously.

boto3 is blocking and a long poll holds its thread for up to 20 s, so each consumer's calls
run on a thread of their own, never on the SageMaker clients' pools. SQS is not SageMaker:
its calls spend none of a region's SageMaker budget (a standard queue's ReceiveMessage rate
is "nearly unlimited", SQS developer guide, *Amazon SQS quotas*). Errors are classified like
SageMaker's (:mod:`.errors`), so a throttled or failing receive is weather.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from typing import Any, Final

import boto3
from botocore.config import Config

from sagemaker_operator import __version__, metrics
from sagemaker_operator.sagemaker import errors

WAIT_SECONDS: Final = 20  # the longest long poll SQS allows
BATCH: Final = 10  # the most messages one ReceiveMessage returns
# https://sqs.<region>.amazonaws.com/<account>/<name>, and the older <region>.queue.amazonaws.com
_REGION_IN_URL: Final = re.compile(r"^https://(?:sqs\.)?([a-z0-9-]+)\.(?:queue\.)?amazonaws\.com/")


def region_of(url: str) -> str | None:
    """The Region an SQS queue URL names, if it is one of AWS's."""
    found = _REGION_IN_URL.match(url)
    return found.group(1) if found else None


class EventQueue:
    """Receive and delete on one queue; every call classified into :mod:`.errors`."""

    def __init__(
        self,
        url: str,
        *,
        region: str | None,
        endpoint_url: str | None,
        executor: Executor,
        visibility_seconds: int,
    ) -> None:
        self.url = url
        self._executor = executor
        self._visibility = visibility_seconds
        self._client = boto3.session.Session().client(
            "sqs",
            region_name=region_of(url) or region,
            endpoint_url=endpoint_url,
            config=Config(
                retries={"mode": "standard", "total_max_attempts": 1},
                user_agent_extra=f"sagemaker-operator/{__version__}",
                connect_timeout=10,
                read_timeout=WAIT_SECONDS + 10,  # the long poll, and then some
            ),
        )

    async def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        call = getattr(self._client, operation)
        try:
            response: dict[str, Any] = await loop.run_in_executor(
                self._executor, lambda: call(**params)
            )
        except Exception as error:
            classified = errors.classify(error)
            metrics.QUEUE_CALLS.labels(operation, classified.code).inc()
            raise classified from error
        metrics.QUEUE_CALLS.labels(operation, "ok").inc()
        return response

    async def receive(self) -> list[Mapping[str, Any]]:
        """Up to ten messages, waiting up to 20 s for the first (one call either way)."""
        answer = await self._call(
            "receive_message",
            QueueUrl=self.url,
            MaxNumberOfMessages=BATCH,
            WaitTimeSeconds=WAIT_SECONDS,
            VisibilityTimeout=self._visibility,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        messages: list[Mapping[str, Any]] = answer.get("Messages", [])
        return messages

    async def delete(self, receipts: Sequence[str]) -> None:
        """Acknowledge handled messages, ten per call; a failed entry comes back later."""
        for start in range(0, len(receipts), BATCH):
            entries = [
                {"Id": str(i), "ReceiptHandle": receipt}
                for i, receipt in enumerate(receipts[start : start + BATCH])
            ]
            await self._call("delete_message_batch", QueueUrl=self.url, Entries=entries)

    async def later(self, receipt: str, seconds: int) -> None:
        """Show a message again after ``seconds`` (a job not yet known here)."""
        await self._call(
            "change_message_visibility",
            QueueUrl=self.url,
            ReceiptHandle=receipt,
            VisibilityTimeout=seconds,
        )
