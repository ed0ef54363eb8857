"""The pollers' SageMaker calls run on threads of their own, within the handlers' budget.

Against the emulator over HTTP: the handlers' only thread is held (as a creation backlog
holds them all), and a poller's Describe still goes through.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from sagemaker_operator.emulator import testing
from sagemaker_operator.sagemaker import budget, errors
from sagemaker_operator.sagemaker.client import SageMakerClients

REGION = "us-east-1"
PATIENCE = 10.0  # seconds; an emulator Describe takes milliseconds


@pytest.fixture
def clients(
    sagemaker_emulator: testing.Running, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[SageMakerClients, threading.Event]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "emulator")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "emulator")
    handlers, pollers = ThreadPoolExecutor(1), ThreadPoolExecutor(1)
    backlog = threading.Event()
    handlers.submit(backlog.wait)  # the handlers' only thread, busy until released
    yield (
        SageMakerClients(
            endpoint_url=sagemaker_emulator.url,
            calls_per_second=100,
            burst=100,
            executor=handlers,
            poll_executor=pollers,
            pool_size=1,
            rates=budget.rates([]),
            observation_share=0.5,
        ),
        backlog,
    )
    backlog.set()
    handlers.shutdown()
    pollers.shutdown()


async def describe_missing(call: Awaitable[object]) -> None:
    with pytest.raises(errors.JobNotFoundError):
        await asyncio.wait_for(call, PATIENCE)


def test_a_pollers_describe_does_not_wait_for_the_handlers_threads(
    clients: tuple[SageMakerClients, threading.Event],
) -> None:
    registry, _backlog = clients
    asyncio.run(describe_missing(registry.polling(REGION).describe("no-such-job")))


def test_a_handlers_describe_waits_for_its_threads(
    clients: tuple[SageMakerClients, threading.Event],
) -> None:
    """The control: the same call on the handlers' client waits behind the held thread."""
    registry, backlog = clients

    async def race() -> None:
        call = asyncio.ensure_future(registry[REGION].describe("no-such-job"))
        done, _ = await asyncio.wait({call}, timeout=0.5)
        assert not done
        backlog.set()
        await describe_missing(call)

    asyncio.run(race())


def test_pollers_and_handlers_spend_one_budget(
    clients: tuple[SageMakerClients, threading.Event],
) -> None:
    registry, _backlog = clients
    polling, handling = registry.polling(REGION), registry[REGION]
    assert polling is registry.polling(REGION)
    assert polling._limiter is handling._limiter  # one token bucket per region
    assert polling._client is handling._client


async def test_a_handlers_call_is_tried_again_where_it_failed(
    clients: tuple[SageMakerClients, threading.Event],
    sagemaker_emulator: testing.Running,
) -> None:
    """A 503 costs the call a retry, not its handler one (whose backoff grows to minutes)."""
    registry, backlog = clients
    backlog.set()  # the handlers' thread is free for this test
    sagemaker_emulator.admin.lose_responses("ListTrainingJobs", count=2, mode="unavailable")
    answer = await registry[REGION].list_page(MaxResults=1)
    assert answer["TrainingJobSummaries"] == []
    admin = sagemaker_emulator.admin
    assert admin.calls("ListTrainingJobs", "LostResponse") == 2
    assert admin.calls("ListTrainingJobs") == 1  # the third try answered


async def test_a_pollers_call_is_not_tried_again_by_the_client(
    clients: tuple[SageMakerClients, threading.Event],
    sagemaker_emulator: testing.Running,
) -> None:
    """The poller retries a page where it failed itself: no second layer of retries."""
    registry, _ = clients
    sagemaker_emulator.admin.lose_responses("ListTrainingJobs", count=1, mode="unavailable")
    with pytest.raises(errors.TransientError):
        await registry.polling(REGION).list_page(MaxResults=1)
    assert sagemaker_emulator.admin.calls("ListTrainingJobs", "LostResponse") == 1
