"""The per-operation call budget: lanes, borrowing, throttles and recovery (pure, fake clock)."""

from __future__ import annotations

import random

import pytest

from sagemaker_operator.sagemaker import budget
from sagemaker_operator.sagemaker.budget import Lane, Rate

DESCRIBE, CREATE, LIST = "DescribeTrainingJob", "CreateTrainingJob", "ListTrainingJobs"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def made(share: float = 0.5) -> tuple[budget.Budget, Clock]:
    """A budget at exactly the stated rates (the margins have tests of their own)."""
    clock = Clock()
    rates = {DESCRIBE: Rate(10, 20), CREATE: Rate(2, 5), LIST: Rate(2, 2)}
    found = budget.Budget(
        rates, observation_share=share, clock=clock, headroom=1.0, spare_tokens=0.0
    )
    return found, clock


def drain(found: budget.Budget, lane: Lane, operation: str) -> int:
    """How many calls get a token at once."""
    taken = 0
    while found.try_acquire(lane, operation) == 0.0:
        taken += 1
    return taken


@pytest.mark.parametrize(
    ("share", "observe_burst", "reconcile_burst"),
    [(0.5, 10, 10), (0.25, 5, 15), (0.75, 15, 5)],
)
def test_a_shared_operation_is_split_between_the_lanes(
    share: float, observe_burst: int, reconcile_burst: int
) -> None:
    found, clock = made(share)
    for lane, burst in ((Lane.OBSERVE, observe_burst), (Lane.RECONCILE, reconcile_burst)):
        bucket = found.bucket(lane, DESCRIBE)
        assert bucket is not None
        assert bucket.burst == burst
        assert bucket.rate(clock()) == pytest.approx(
            10 * (share if lane is Lane.OBSERVE else 1 - share)
        )


def test_a_create_burst_cannot_starve_observation() -> None:
    found, clock = made()
    assert drain(found, Lane.RECONCILE, DESCRIBE) == 20  # its own 10, then the idle 10
    assert found.try_acquire(Lane.OBSERVE, DESCRIBE) > 0  # borrowed away for now...
    clock.now += 1.0
    # ...but a second later the observers' own refill (5/s) is theirs, and the handlers wait.
    assert drain(found, Lane.OBSERVE, DESCRIBE) == 10  # their 5, and 5 the handlers refilled
    assert found.try_acquire(Lane.RECONCILE, DESCRIBE) > 0


def test_an_operation_one_side_calls_is_wholly_its_own() -> None:
    found, clock = made(share=0.25)
    create = found.bucket(Lane.RECONCILE, CREATE)
    assert create is not None
    assert (create.burst, create.rate(clock())) == (5, 2)
    assert drain(found, Lane.RECONCILE, CREATE) == 5
    assert drain(found, Lane.OBSERVE, LIST) == 2


def test_a_throttle_slows_the_bucket_once_a_second_and_it_climbs_back() -> None:
    found, clock = made()
    bucket = found.bucket(Lane.OBSERVE, LIST)
    assert bucket is not None
    found.throttled(Lane.OBSERVE, LIST)
    assert bucket.rate(clock()) == pytest.approx(2 * budget.DECREASE)
    assert bucket.wait(clock()) == pytest.approx(1 / (2 * budget.DECREASE))  # burst spent
    found.throttled(Lane.OBSERVE, LIST)  # the same second: one signal, not two
    assert bucket.rate(clock()) == pytest.approx(2 * budget.DECREASE)
    clock.now += budget.RECOVERY_SECONDS / 2
    assert bucket.rate(clock()) == pytest.approx(2.0)  # climbed back, capped at the ceiling
    for _ in range(30):
        clock.now += budget.COOLDOWN_SECONDS
        found.throttled(Lane.OBSERVE, LIST)
    # A throttle every second: it settles where a second's climb (2 / R) meets the drop.
    settled = budget.DECREASE * 2 / budget.RECOVERY_SECONDS / (1 - budget.DECREASE)
    assert bucket.rate(clock()) == pytest.approx(max(settled, 2 * budget.FLOOR), rel=0.01)
    other = found.bucket(Lane.RECONCILE, LIST)
    assert other is not None
    assert other.rate(clock()) == 2  # the other lane's bucket is untouched


async def test_acquire_takes_a_token_or_borrows_and_ignores_unknown_operations() -> None:
    found, _ = made()
    for _ in range(20):
        await found.acquire(Lane.RECONCILE, DESCRIBE)  # own 10, borrowed 10: no wait
    await found.acquire(Lane.RECONCILE, "DeleteTrainingJob")  # not paced at all
    observe = found.bucket(Lane.OBSERVE, DESCRIBE)
    assert observe is not None
    assert observe.tokens < 1  # what was borrowed is gone from the observers' bucket


def walk(found: budget.Budget, clock: Clock, delays: random.Random) -> tuple[int, float]:
    """A 101-page List walk paced by ``found`` against SageMaker's own bucket (2/s, burst 2,
    exactly): each page leaves up to 0.6 s after its token (a busy event loop, a thread to
    wait for), the next is asked for when it is answered, a refused one is asked again.
    Returns (pages refused, seconds taken)."""
    sagemaker = budget.Bucket(2.0, 2.0, clock())
    started, refused, read = clock.now, 0, 0
    while read < 101:
        while wait := found.try_acquire(Lane.OBSERVE, LIST):
            clock.now += wait
        clock.now += delays.uniform(0.0, 0.6)
        if sagemaker.take(clock.now):
            read += 1
        else:
            refused += 1
            found.throttled(Lane.OBSERVE, LIST)
        clock.now += 0.05  # SageMaker's answer
    return refused, clock.now - started


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_paced_at_exactly_sagemakers_rate_pages_are_refused_and_with_the_margin_none(
    seed: int,
) -> None:
    exact, clock = made()
    refused_exact, took_exact = walk(exact, clock, random.Random(seed))
    clock = Clock()
    shipped = budget.Budget({LIST: Rate(2, 2)}, observation_share=0.5, clock=clock)
    refused, took = walk(shipped, clock, random.Random(seed))
    assert refused_exact >= 3
    assert refused == 0
    assert took < took_exact  # the margin costs less than the refusals it saves
    assert took < 101 / 2 * 1.1  # within a tenth of the floor


@pytest.mark.parametrize(
    ("text", "operation", "rate"),
    [
        ("CreateTrainingJob=5/10", CREATE, Rate(5, 10)),
        ("ListTags=0.5", "ListTags", Rate(0.5, 1)),
        ("ListTags=3", "ListTags", Rate(3, 4)),
    ],
)
def test_rates_parse(text: str, operation: str, rate: Rate) -> None:
    assert Rate.parse(text) == (operation, rate)
    assert budget.rates([text])[operation] == rate
    assert budget.rates([text])[LIST] == budget.DEFAULT_RATES[LIST]


@pytest.mark.parametrize("text", ["CreateTrainingJob", "=5", "ListTags=0", "ListTags=x/1"])
def test_bad_rates_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        Rate.parse(text)
