"""kopf's per-retry ERROR lines become INFO: a retry is weather, shown in Synced (pure)."""

from __future__ import annotations

import logging

import pytest

from sagemaker_operator.config import Settings
from sagemaker_operator.controller import running


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
