"""Pytest fixtures for the SageMaker emulator: a server per session, clean state per test.

Listed in the root ``conftest.py`` (``pytest_plugins``). Fixtures:

``sagemaker_emulator``
    A :class:`~sagemaker_operator.emulator.testing.Running` emulator, reset (no jobs, zero
    counters, start-up faults) before each test. Throttling is off, the admin endpoint on,
    and a job takes about a second; turn faults on with
    ``sagemaker_emulator.admin.set_faults(...)``, lose answers of applied calls with
    ``sagemaker_emulator.admin.lose_responses("CreateTrainingJob", mode="drop")``.
``sagemaker_client``
    A boto3 SageMaker client on the emulator: dummy credentials, ``us-east-1``, and retries
    off, so a test sees every fault it provokes.
``make_sagemaker_client``
    A factory for other clients: ``make_sagemaker_client(region="eu-west-1",
    parameter_validation=False, retries={"mode": "standard", "max_attempts": 5})``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from sagemaker_operator.emulator import faults, settings, testing

ClientFactory = Callable[..., Any]


def client_for(url: str, region: str = "us-east-1", **config: Any) -> Any:
    """A boto3 SageMaker client on ``url``; ``config`` goes to botocore's ``Config``."""
    config.setdefault("retries", {"mode": "standard", "total_max_attempts": 1})
    return boto3.client(
        "sagemaker",
        endpoint_url=url,
        region_name=region,
        aws_access_key_id="emulator",
        aws_secret_access_key="emulator",
        config=Config(**config),
    )


def emulator_config(**changes: Any) -> settings.Settings:
    """The tests' emulator: a free port, ~1 s jobs, throttling off, the admin endpoint on;
    ``changes`` to any of those or the rest (``events_queue="q"``, ``time_scale=1.0``)."""
    found = settings.Settings(
        port=0,
        time_scale=settings.TEST_TIME_SCALE,
        faults=faults.FaultSettings(throttling=False),
        admin=True,
    )
    return dataclasses.replace(found, **changes)


@pytest.fixture(scope="session")
def sagemaker_emulator_session() -> Iterator[testing.Running]:
    with testing.running(emulator_config()) as running:
        yield running


@pytest.fixture
def sagemaker_emulator(sagemaker_emulator_session: testing.Running) -> testing.Running:
    sagemaker_emulator_session.admin.reset()
    return sagemaker_emulator_session


@pytest.fixture
def make_sagemaker_client(sagemaker_emulator: testing.Running) -> ClientFactory:
    def make(region: str = "us-east-1", **config: Any) -> Any:
        return client_for(sagemaker_emulator.url, region, **config)

    return make


@pytest.fixture
def sagemaker_client(make_sagemaker_client: ClientFactory) -> Any:
    return make_sagemaker_client()
