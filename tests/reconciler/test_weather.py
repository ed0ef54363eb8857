"""kopf's per-retry ERROR lines become INFO: a retry is weather, shown in Synced (pure)."""

from __future__ import annotations

import logging
from typing import Any, cast

import kopf
import pytest
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import MaxRetryError, NewConnectionError

from sagemaker_operator.config import Settings
from sagemaker_operator.controller import handlers, running


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
