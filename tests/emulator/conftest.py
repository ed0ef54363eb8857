"""Fixtures of the emulator's tests."""

from __future__ import annotations

import pytest

from sagemaker_operator.emulator import testing
from tests.emulator.jobs import HandClock


@pytest.fixture
def clock(sagemaker_emulator: testing.Running, monkeypatch: pytest.MonkeyPatch) -> HandClock:
    """The session emulator's clock, moved by hand: each job is seen where the test says."""
    hand = HandClock(1_700_000_000.0)
    monkeypatch.setattr(sagemaker_emulator.emulator, "clock", hand)
    return hand
