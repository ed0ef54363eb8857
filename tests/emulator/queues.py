"""An emulator with an events queue on a hand clock, and boto3's SQS client on it.

The emulator runs at time scale 1, so emulated seconds are the hand clock's seconds: a job
is Starting for 60, Downloading for 30, Training for 180, Uploading for 15. Nothing moves
until a test calls :meth:`Harness.advance`, which also tells the emulator (events that fell
due are on the queue when it returns, and waiting receives have looked again).
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Final, Generic, TypeVar

import boto3
from botocore.config import Config

from sagemaker_operator.emulator import testing
from tests.emulator.jobs import HandClock, wait_for
from tests.plugins.emulator import client_for

EVENTS_QUEUE: Final = "sagemaker-events"
START: Final = 1_700_000_000.0  # 2023-11-14T22:13:20Z, the hand clock's first reading

T = TypeVar("T")


def sqs_client_for(url: str, region: str = "us-east-1") -> Any:
    """boto3's SQS client on the emulator, retries off, reads long enough for a long poll."""
    return boto3.client(
        "sqs",
        endpoint_url=url,
        region_name=region,
        aws_access_key_id="emulator",
        aws_secret_access_key="emulator",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=60),
    )


@dataclasses.dataclass
class Harness:
    running: testing.Running
    clock: HandClock
    sqs: Any
    sagemaker: Any
    url: str  # the events queue's URL

    def advance(self, seconds: float) -> None:
        self.clock.now += seconds
        self.running.clock_moved()

    def sagemaker_in(self, region: str) -> Any:
        return client_for(self.running.url, region)

    def queue(self, name: str, **attributes: str) -> str:
        created: str = self.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        return created

    def receive(self, url: str | None = None, **params: Any) -> list[dict[str, Any]]:
        params.setdefault("WaitTimeSeconds", 0)
        answer = self.sqs.receive_message(QueueUrl=url or self.url, **params)
        messages: list[dict[str, Any]] = answer.get("Messages", [])
        return messages

    def events(self) -> list[dict[str, Any]]:
        """Every event visible now, in delivery order, deleted from the queue."""
        out: list[dict[str, Any]] = []
        while batch := self.receive(MaxNumberOfMessages=10):
            out.extend(json.loads(m["Body"]) for m in batch)
            self.sqs.delete_message_batch(
                QueueUrl=self.url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
                ],
            )
        return out

    def counts(self, name: str = EVENTS_QUEUE) -> dict[str, int]:
        counts: dict[str, int] = self.running.admin.sqs()["queues"][name]
        return counts


class Background(Generic[T]):
    """A blocking call run in a thread, so a test can act while it waits."""

    def __init__(self, call: Callable[[], T]) -> None:
        self._result: list[T] = []
        self._error: list[BaseException] = []
        self.started = time.monotonic()
        self.elapsed = 0.0
        self._thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], T]) -> None:
        try:
            self._result.append(call())
        except BaseException as exc:  # handed to the test by result()
            self._error.append(exc)
        self.elapsed = time.monotonic() - self.started

    def result(self, timeout: float = 30.0) -> T:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"Still waiting after {timeout}s"
        if self._error:
            raise self._error[0]
        return self._result[0]


def long_poll(harness: Harness, url: str, wait: int = 20, **params: Any) -> Background[Any]:
    """Start a ``ReceiveMessage`` long poll and return once the emulator holds it waiting."""
    before = harness.counts(url.rsplit("/", 1)[-1])["waiting"]
    poll = Background(lambda: harness.receive(url, WaitTimeSeconds=wait, **params))
    wait_for(lambda: harness.counts(url.rsplit("/", 1)[-1])["waiting"], lambda n: n > before)
    return poll


def harness_for(running: testing.Running, clock: HandClock) -> Iterator[Harness]:
    sqs = sqs_client_for(running.url)
    url = sqs.get_queue_url(QueueName=EVENTS_QUEUE)["QueueUrl"]
    yield Harness(running, clock, sqs, client_for(running.url), url)
