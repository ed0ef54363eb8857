"""kopf's per-retry ERROR lines become INFO: a retry is weather, shown in Synced; an API
server with no answer is waited out in place (pure)."""

from __future__ import annotations

import logging
from typing import Any, cast

import kopf
import pytest
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import MaxRetryError, NewConnectionError

from sagemaker_operator.config import Settings
from sagemaker_operator.controller import handlers, running
from sagemaker_operator.controller.kube import ANSWER_PAUSE_SECONDS, until_answered


def record(level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord("kopf.objects", level, __file__, 1, message, None, None)


@pytest.mark.parametrize(
    ("level", "message", "after"),
    [
        (logging.ERROR, "Handler 'create' failed temporarily: ThrottlingException", logging.INFO),
        (logging.ERROR, "Handler 'create' failed with an exception. Will retry.", logging.ERROR),
        (logging.WARNING, "Handler 'create' failed temporarily: x", logging.WARNING),
    ],
)
def test_only_temporary_failures_are_downgraded(
    level: int, message: str, after: int, caplog: pytest.LogCaptureFixture
) -> None:
    found = record(level, message)
    with caplog.at_level(logging.INFO, logger="kopf.objects"):
        assert running.RetriesAreWeather().filter(found) is True
    assert (found.levelno, found.levelname) == (after, logging.getLevelName(after))


def test_a_downgraded_line_is_dropped_when_info_is_off(caplog: pytest.LogCaptureFixture) -> None:
    found = record(logging.ERROR, "Handler 'create' failed temporarily: ThrottlingException")
    with caplog.at_level(logging.WARNING, logger="kopf.objects"):
        assert running.RetriesAreWeather().filter(found) is False


def test_kopf_posts_no_event_per_retry() -> None:
    settings = Settings.model_validate({})
    assert running.kopf_settings(settings).posting.level == logging.WARNING


@pytest.mark.parametrize("retry", [0, 3, 12])
def test_an_unreachable_api_server_is_a_temporary_fault_with_backoff(retry: int) -> None:
    """Not an unexpected error: kopf would retry that a minute later (the fault run's creates
    whose status write met the API-server restart), and log it at ERROR."""
    refused = NewConnectionError(cast(Any, None), "Connection refused")
    unreachable = MaxRetryError(cast(Any, None), "/apis", reason=refused)
    fault = handlers.kube_fault(unreachable, "could not write status", retry, cap=300)
    assert isinstance(fault, kopf.TemporaryError)
    assert fault.delay is not None
    assert 1.0 <= fault.delay <= min(300, 2 ** (retry + 1))
    assert str(fault) == "could not write status: Kubernetes API unreachable: MaxRetryError"


def test_an_api_server_answer_is_tried_again_in_a_second() -> None:
    fault = handlers.kube_fault(ApiException(status=409, reason="Conflict"), None, 7, cap=300)
    assert (fault.delay, str(fault)) == (1.0, "Kubernetes API: 409 Conflict")


class Clock:
    """A clock that only the pauses move: the patience is counted without waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def refusals(count: int, then: Exception | None = None) -> Any:
    """A call the API server refuses ``count`` times, then answers (or fails with ``then``)."""
    refused = NewConnectionError(cast(Any, None), "Connection refused")
    calls = {"n": 0}

    async def call() -> str:
        calls["n"] += 1
        if calls["n"] <= count:
            raise MaxRetryError(cast(Any, None), "/apis", reason=refused)
        if then is not None:
            raise then
        return "written"

    call.calls = calls  # type: ignore[attr-defined]
    return call


async def test_a_status_write_is_tried_again_in_place_until_the_api_server_answers() -> None:
    clock = Clock()
    call = refusals(4)
    assert await until_answered(call, clock=clock, sleep=clock.sleep) == "written"
    assert call.calls["n"] == 5
    first, cap = ANSWER_PAUSE_SECONDS
    bounds = [min(cap, first * 2**i) for i in range(4)]  # doubling, capped
    assert all(b / 2 <= p <= b for p, b in zip(clock.pauses, bounds, strict=True))


async def test_an_answer_ends_the_wait_even_an_error() -> None:
    clock = Clock()
    call = refusals(1, then=ApiException(status=409, reason="Conflict"))
    with pytest.raises(ApiException):
        await until_answered(call, clock=clock, sleep=clock.sleep)
    assert (call.calls["n"], len(clock.pauses)) == (2, 1)


@pytest.mark.parametrize("status", [403, 429, 503])
async def test_a_not_yet_answer_is_waited_out_too(status: int) -> None:
    """A restarted API server answers 503 for its first seconds (found against the real one)
    and 403 until its RBAC caches know the ServiceAccount (found by the fault run)."""
    clock = Clock()
    calls = {"n": 0}

    async def call() -> str:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ApiException(status=status, reason="not yet")
        return "written"

    assert await until_answered(call, clock=clock, sleep=clock.sleep) == "written"
    assert (calls["n"], len(clock.pauses)) == (2, 1)


async def test_the_wait_ends_with_its_patience() -> None:
    clock = Clock()
    with pytest.raises(MaxRetryError):
        await until_answered(refusals(10_000), patience=30.0, clock=clock, sleep=clock.sleep)
    assert 30.0 - ANSWER_PAUSE_SECONDS[1] <= clock.now <= 30.0
