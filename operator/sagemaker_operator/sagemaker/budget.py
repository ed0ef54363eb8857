"""One region's call budget, per operation: what SageMaker allows each, shared by handlers and
pollers, with a share of each guaranteed to each, slowed by throttles and recovering.

SageMaker throttles per operation and per account (``ListTrainingJobs`` about 2 requests a
second, ``CreateTrainingJob`` with a handful of callers; AWS publishes no per-API figures and
says they are not adjustable): one budget for all calls cannot keep a burst of creates from
spending the Describes that status needs, or paces List by what Describe may do. So each
operation has its own token bucket, and the operations both sides call (``DescribeTrainingJob``,
``ListTags``) have two: the pollers' (``Lane.OBSERVE``, ``observation_share`` of the rate)
and the handlers' (the rest). A lane that finds its own bucket empty takes a token the other
left unused before it waits, so the split guarantees a floor without wasting the ceiling.

Each bucket learns from SageMaker as botocore's ``adaptive`` retry mode does (its rate drops
on a throttle, down to a floor, and climbs back to the full rate in seconds), but per
operation, per lane and without blocking a thread: botocore's limiter is per client object,
waits in the calling thread, and only starts after the first throttle; hence this one. The
figures (``DEFAULT_RATES``) are assumptions, stated in docs/reconciling.md with sources.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final


class Lane(enum.StrEnum):
    RECONCILE = "reconcile"  # the handlers: look-ups, creates, updates, stops, tags
    OBSERVE = "observe"  # the pollers: lists and the Describes of what changed


@dataclass(frozen=True)
class Rate:
    rate: float  # calls per second
    burst: int

    @classmethod
    def parse(cls, text: str) -> tuple[str, Rate]:
        """``Operation=RATE[/BURST]`` (``CreateTrainingJob=2/5``); the burst defaults to the
        rate rounded up."""
        operation, _, figures = text.partition("=")
        rate, _, burst = figures.partition("/")
        parsed = cls(float(rate), int(burst) if burst else max(1, round(float(rate) + 0.5)))
        if not operation or parsed.rate <= 0 or parsed.burst < 1:
            raise ValueError(f"{text!r}: expected Operation=RATE[/BURST] with RATE > 0")
        return operation, parsed


# NB: what users report and sagemaker-api.md collects; AWS publishes none of these.
DEFAULT_RATES: Final[Mapping[str, Rate]] = {
    "CreateTrainingJob": Rate(2, 5),
    "DescribeTrainingJob": Rate(10, 20),
    "ListTrainingJobs": Rate(2, 2),
    "StopTrainingJob": Rate(2, 5),
    "UpdateTrainingJob": Rate(1, 1),
    "ListTags": Rate(10, 20),
    "AddTags": Rate(2, 5),
    # CloudWatch Logs, for the failure tail (controller/failure_logs.py): a fifth of the 25
    # calls a second AWS documents per account and Region, the rest left to people reading
    # logs with `sagemaker-operator logs`.
    "GetLogEvents": Rate(5, 5),
}
SHARED: Final = frozenset({"DescribeTrainingJob", "ListTags"})
# NB: each bucket paces its operation a little under what SageMaker allows. At exactly
# SageMaker's rate and burst, a call that reaches SageMaker sooner after its predecessor than
# it left our bucket (the predecessor waited for a thread, or the event loop was busy between
# the token and the send) finds 0.99 of SageMaker's token and is refused: the 10,000-job
# restart saw 5 of its 105 List pages throttled so. One token of SageMaker's burst left
# unused absorbs such a shift of up to one token's time (0.5 s for List); 2 % under the
# rate lets that spare grow back after a larger one. A 101-page walk: 51 s instead of 50.
SPARE_TOKENS = 1.0
HEADROOM = 0.98
# NB: gentle on purpose. A throttle may be the account's other clients rather than our pace
# (a fraction of calls throttled at random): a halving per throttle, measured with 20 %
# random throttling on top of the AWS-like buckets, sank CreateTrainingJob to under one
# call a second. With these, a rate settles near sqrt(ceiling * R / ((1 - D) * p)) per
# second under a random fraction p, and near SageMaker's own limit when it is ours.
FLOOR = 0.25  # a throttled bucket never drops below this fraction of its rate
DECREASE = 0.8  # on a throttle, the rate is multiplied by this...
COOLDOWN_SECONDS = 1.0  # ...at most once a second (a burst of throttles is one signal)
RECOVERY_SECONDS = 10.0  # from nothing back to the full rate, without another throttle


class Bucket:
    """A token bucket whose rate drops on a throttle and climbs back linearly over time."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.ceiling = rate
        self.burst = max(1.0, burst)
        self.tokens = self.burst
        self.stamp = now
        self._low = rate  # the rate right after the last throttle
        self._dropped_at = now - COOLDOWN_SECONDS

    def rate(self, now: float) -> float:
        climbed = self._low + self.ceiling * (now - self._dropped_at) / RECOVERY_SECONDS
        return min(self.ceiling, climbed)

    def _refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate(now))
        self.stamp = now

    def take(self, now: float) -> bool:
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def wait(self, now: float) -> float:
        """Seconds until a token is there (at the rate of now)."""
        self._refill(now)
        return max(0.0, (1.0 - self.tokens) / self.rate(now))

    def throttled(self, now: float) -> None:
        if now - self._dropped_at < COOLDOWN_SECONDS:
            return
        self._refill(now)
        self._low = max(self.ceiling * FLOOR, self.rate(now) * DECREASE)
        self._dropped_at = now
        self.tokens = min(self.tokens, 0.0)


class Budget:
    """One region's buckets: per operation, and per lane where both lanes call it."""

    def __init__(
        self,
        rates: Mapping[str, Rate],
        *,
        observation_share: float,
        clock: Callable[[], float] = time.monotonic,
        headroom: float = HEADROOM,
        spare_tokens: float = SPARE_TOKENS,
    ) -> None:
        self._clock = clock
        now = clock()
        self._buckets: dict[tuple[Lane, str], Bucket] = {}
        for operation, rate in rates.items():
            burst = max(1.0, rate.burst - spare_tokens)
            for lane in Lane:
                share = _share(operation, lane, observation_share)
                self._buckets[lane, operation] = Bucket(
                    rate.rate * headroom * share, burst * share, now
                )

    def bucket(self, lane: Lane, operation: str) -> Bucket | None:
        return self._buckets.get((lane, operation))

    def _lent(self, lane: Lane, operation: str) -> Bucket | None:
        if operation not in SHARED:
            return None
        other = Lane.OBSERVE if lane is Lane.RECONCILE else Lane.RECONCILE
        return self._buckets.get((other, operation))

    def try_acquire(self, lane: Lane, operation: str) -> float:
        """Take a token now (own, else one the other lane left); 0.0 if taken, else the
        seconds to wait before trying again. An operation with no budget is never paced."""
        own = self.bucket(lane, operation)
        if own is None:
            return 0.0
        now = self._clock()
        if own.take(now):
            return 0.0
        lent = self._lent(lane, operation)
        if lent is not None and lent.take(now):
            return 0.0
        return max(own.wait(now), 1e-3)

    async def acquire(self, lane: Lane, operation: str) -> None:
        """Wait for a token of ``operation`` in ``lane``."""
        while True:
            wait = self.try_acquire(lane, operation)
            if not wait:
                return
            await asyncio.sleep(wait)  # NB: a token bucket's refill is time, not an event

    def throttled(self, lane: Lane, operation: str) -> None:
        """SageMaker throttled this call: slow this lane's bucket of it down."""
        own = self.bucket(lane, operation)
        if own is not None:
            own.throttled(self._clock())


def _share(operation: str, lane: Lane, observation_share: float) -> float:
    if operation not in SHARED:
        return 1.0  # only one side calls it: the whole rate is that side's
    return observation_share if lane is Lane.OBSERVE else 1.0 - observation_share


def rates(overrides: Iterable[str]) -> dict[str, Rate]:
    """The default rates with ``Operation=RATE[/BURST]`` overrides applied."""
    found = dict(DEFAULT_RATES)
    found.update(Rate.parse(text) for text in overrides)
    return found
