"""Faults on demand: throttling as token buckets or as a fraction of calls, a fraction of 5xx
answers, added latency, permanent refusals of an operation, answers lost after the call
was applied, and the account's instance quotas.

These are server-wide and changeable at run time (CLI flags set the start, the admin endpoint
``/_emulator/faults`` reads and changes them). A job's own fate (fail, be interrupted) is not
a fault of the service but part of its plan: see the fate tags in :mod:`.operations`.

Throttling follows what AWS is known to do (``/work/shared/notes/sagemaker-api.md``): one
token bucket per operation per account, refilled at ``rate`` tokens a second up to ``burst``;
a call that finds the bucket empty is answered ``ThrottlingException`` at once. AWS publishes
no per-API figures, so :data:`DEFAULT_RATES` are documented assumptions. Operations missing
from the table are not throttled. ``throttle_fraction`` throttles a fraction of calls by the
dice instead, whatever their rate, with the same answer: a fault a client cannot pace its way
out of, for tests of retrying under steady throttling.

A *lost response* is the one fault that comes after the operation: the call is applied (the
job is created, stopped...), then its answer is replaced by a 5xx or the connection is closed
without one. The client cannot tell that from a call that failed, so this is how tests prove
that retrying a non-idempotent call (``CreateTrainingJob``) does not duplicate its effect.
Only calls that succeeded lose their answer; ``count`` arms it for the next calls of the
targeted operations (and disarms itself, counting down in the settings the admin endpoint
shows), ``fraction`` by the dice.

The buckets keep the time each call is answered at, as the server passes it in, unless
``Faults.clock`` is set: then they read that instead (nothing else does). Tests set a clock they
move by hand, so a burst and its refill are exact however slowly the calls come.

NB: the emulator is one process on one event loop, so buckets need no lock.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Final, Literal

import pydantic
from pydantic.alias_generators import to_camel

from sagemaker_operator.emulator import protocol


class Rate(pydantic.BaseModel):
    """A token bucket's refill rate (calls per second) and size."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    rate: float = pydantic.Field(gt=0)
    burst: int = pydantic.Field(ge=1)


DEFAULT_RATES: Final[dict[str, Rate]] = {
    "CreateTrainingJob": Rate(rate=2, burst=5),
    "DescribeTrainingJob": Rate(rate=10, burst=20),
    "ListTrainingJobs": Rate(rate=2, burst=2),
    "StopTrainingJob": Rate(rate=2, burst=5),
    "UpdateTrainingJob": Rate(rate=1, burst=1),
    # CloudWatch Logs (:mod:`.logs`): AWS documents these per account and Region (see
    # docs/emulator.md for the sources); the bursts are our assumption.
    "DescribeLogStreams": Rate(rate=5, burst=5),
    "GetLogEvents": Rate(rate=25, burst=25),
    "FilterLogEvents": Rate(rate=5, burst=5),
}


LostMode = Literal["error", "unavailable", "drop"]


class LostResponse(pydantic.BaseModel):
    """Which successful calls lose their answer, and how (admin field ``lostResponse``)."""

    model_config = pydantic.ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    # The next ``count`` targeted calls that succeed lose their answer, whatever the dice say.
    count: int = pydantic.Field(default=0, ge=0)
    # Then this fraction of the targeted calls that succeed, by the dice.
    fraction: float = pydantic.Field(default=0.0, ge=0.0, le=1.0)
    # Operations it applies to; None means all of them.
    operations: list[str] | None = None
    # "error": a 500 InternalFailure; "unavailable": a 503 ServiceUnavailable; "drop": the
    # connection is closed without an answer.
    mode: LostMode = "error"


class Refusal(pydantic.BaseModel):
    """A permanent refusal of one operation (admin field ``refusals``), as IAM gives when a
    role lacks a permission, or an organisation's policy blocks an action or a Region."""

    model_config = pydantic.ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    code: str = "AccessDeniedException"
    message: str = "User is not authorized to perform this action"
    status: int = pydantic.Field(default=400, ge=400, le=499)


class FaultSettings(pydantic.BaseModel):
    """The server-wide faults; the admin endpoint speaks this model in camelCase."""

    model_config = pydantic.ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", validate_assignment=True
    )

    throttling: bool = False
    rates: dict[str, Rate] = pydantic.Field(default_factory=lambda: dict(DEFAULT_RATES))
    # Fraction of calls answered ThrottlingException by the dice, apart from the buckets.
    throttle_fraction: float = pydantic.Field(default=0.0, ge=0.0, le=1.0)
    error_fraction: float = pydantic.Field(default=0.0, ge=0.0, le=1.0)
    # Operations the 5xx fraction applies to; None means all of them.
    error_operations: list[str] | None = None
    latency_ms: float = pydantic.Field(default=0.0, ge=0.0)
    seed: int | None = None  # for a reproducible sequence of injected throttles and errors
    lost_response: LostResponse = pydantic.Field(default_factory=LostResponse)
    # Operation -> the refusal every call of it gets, until changed (after throttling).
    refusals: dict[str, Refusal] = pydantic.Field(default_factory=dict)
    # Instance type -> how many instances of it the account's training jobs may hold in a
    # region (AWS's per-type service quota; a new account has 0 for many types). Types not
    # listed are unlimited. Checked by CreateTrainingJob: see :mod:`.operations`.
    instance_quotas: dict[str, pydantic.NonNegativeInt] = pydantic.Field(default_factory=dict)


class TokenBucket:
    def __init__(self, rate: Rate, now: float) -> None:
        self.rate = rate.rate
        self.burst = float(rate.burst)
        self.tokens = self.burst
        self.stamp = now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Faults:
    """Decides, per call, whether the service misbehaves, and how."""

    def __init__(
        self, settings: FaultSettings, *, clock: Callable[[], float] | None = None
    ) -> None:
        self.initial = settings.model_copy(deep=True)
        self.settings = settings
        # The token buckets' time, in seconds; None: the ``now`` each call is checked at.
        self.clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._random = random.Random(settings.seed)

    def update(self, changes: dict[str, object]) -> FaultSettings:
        """Apply a partial camelCase update; raises ``pydantic.ValidationError`` if invalid."""
        merged = self.settings.model_dump(by_alias=True) | changes
        self._apply(FaultSettings.model_validate(merged))
        return self.settings

    def reset(self) -> None:
        self._apply(self.initial.model_copy(deep=True))

    def _apply(self, settings: FaultSettings) -> None:
        self.settings = settings
        self._buckets.clear()  # NB: new rates start with full buckets, as after a quiet spell
        self._random = random.Random(settings.seed)

    @property
    def latency(self) -> float:
        return self.settings.latency_ms / 1000.0

    def check(self, operation: str, now: float) -> protocol.ApiError | None:
        """The fault to answer this call with, if any: throttling first, as AWS does."""
        settings = self.settings
        if settings.throttling:
            rate = settings.rates.get(operation)
            if rate is not None:
                if self.clock is not None:
                    now = self.clock()
                bucket = self._buckets.get(operation)
                if bucket is None:
                    bucket = self._buckets[operation] = TokenBucket(rate, now)
                if not bucket.take(now):
                    return protocol.throttled()
        if settings.throttle_fraction > 0 and self._random.random() < settings.throttle_fraction:
            return protocol.throttled()
        refusal = settings.refusals.get(operation)
        if refusal is not None:
            return protocol.ApiError(refusal.code, refusal.message, refusal.status)
        targeted = settings.error_operations is None or operation in settings.error_operations
        if settings.error_fraction > 0 and targeted:
            dice = self._random.random()
            if dice < settings.error_fraction:
                # Both 5xx codes botocore's retry logic must survive, alternately by the dice.
                if dice < settings.error_fraction / 2:
                    return protocol.internal_failure()
                return protocol.service_unavailable()
        return None

    def lose(self, operation: str) -> LostMode | None:
        """Whether this call, applied successfully, loses its answer, and how.

        Called after the operation, so only calls that changed (or read) something are lost.
        """
        lost = self.settings.lost_response
        if lost.operations is not None and operation not in lost.operations:
            return None
        if lost.count > 0:
            self.settings.lost_response = lost.model_copy(update={"count": lost.count - 1})
            return lost.mode
        if lost.fraction > 0 and self._random.random() < lost.fraction:
            return lost.mode
        return None


class Share(pydantic.BaseModel):
    """Which events one fault hits: the next ``count`` of them, then a ``fraction`` by the dice."""

    model_config = pydantic.ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    count: int = pydantic.Field(default=0, ge=0)
    fraction: float = pydantic.Field(default=0.0, ge=0.0, le=1.0)


class EventFaults(pydantic.BaseModel):
    """How the job-state-change events misbehave on their way to the queue (:mod:`.events`).

    Served and changed at ``/_emulator/events/faults``; the admin ``reset`` restores the
    start-up ones. Each event meets the faults in this order, and at most one holds it back:
    ``lost`` (never delivered), ``duplicated`` (delivered twice, the same event id),
    ``delayed`` (invisible for ``delaySeconds`` of the emulator's clock), ``reordered``
    (delivered after the same job's next event; only events that have a next one).
    """

    model_config = pydantic.ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", validate_assignment=True
    )

    lost: Share = pydantic.Field(default_factory=Share)
    duplicated: Share = pydantic.Field(default_factory=Share)
    delayed: Share = pydantic.Field(default_factory=Share)
    delay_seconds: float = pydantic.Field(default=60.0, ge=0.0, le=900.0)
    reordered: Share = pydantic.Field(default_factory=Share)
    seed: int | None = None


class EventDice:
    """Decides, per event, which :class:`EventFaults` hit it; counts down their ``count``."""

    def __init__(self, settings: EventFaults) -> None:
        self.initial = settings.model_copy(deep=True)
        self.settings = settings
        self._random = random.Random(settings.seed)

    def update(self, changes: dict[str, object]) -> EventFaults:
        """Apply a partial camelCase update; raises ``pydantic.ValidationError`` if invalid."""
        merged = self.settings.model_dump(by_alias=True) | changes
        self._apply(EventFaults.model_validate(merged))
        return self.settings

    def reset(self) -> None:
        self._apply(self.initial.model_copy(deep=True))

    def _apply(self, settings: EventFaults) -> None:
        self.settings = settings
        self._random = random.Random(settings.seed)

    def hits(self, fault: Literal["lost", "duplicated", "delayed", "reordered"]) -> bool:
        share: Share = getattr(self.settings, fault)
        if share.count > 0:
            setattr(self.settings, fault, share.model_copy(update={"count": share.count - 1}))
            return True
        return share.fraction > 0 and self._random.random() < share.fraction
