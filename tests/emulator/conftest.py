"""Fixtures of the emulator's tests: the session emulator on a hand clock, and one with an
events queue (SQS) on a hand clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sagemaker_operator.emulator import testing
from tests.emulator.jobs import HandClock
from tests.emulator.queues import EVENTS_QUEUE, START, Harness, harness_for
from tests.plugins.emulator import emulator_config


@pytest.fixture
def clock(sagemaker_emulator: testing.Running, monkeypatch: pytest.MonkeyPatch) -> HandClock:
    """The session emulator's clock, moved by hand: each job is seen where the test says."""
    hand = HandClock(START)
    monkeypatch.setattr(sagemaker_emulator.emulator, "clock", hand)
    return hand


@pytest.fixture(scope="session")
def events_emulator() -> Iterator[testing.Running]:
    # Time scale 1: emulated seconds are the hand clock's seconds.
    config = emulator_config(time_scale=1.0, events_queue=EVENTS_QUEUE)
    with testing.running(config) as running:
        yield running


@pytest.fixture
def harness(events_emulator: testing.Running, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    """The emulator reset (no jobs, empty queues, start-up faults) on a fresh hand clock."""
    clock = HandClock(START)
    monkeypatch.setattr(events_emulator.emulator, "clock", clock)
    events_emulator.admin.reset()
    yield from harness_for(events_emulator, clock)
