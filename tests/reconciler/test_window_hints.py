"""Listing hints: their text in the Lease, and when a poller's is written.

The keeper's port is the operator's own ``Kube`` (two Lease calls), faked here by a recorder;
the calls themselves meet the real API server in tests/controller/test_listing_hints.py and
tests/helm/test_operator_rbac.py (the chart's Role).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from kubernetes.client.exceptions import ApiException

from sagemaker_operator.controller import window_hints
from sagemaker_operator.controller.window_hints import Hint, HintKeeper

T0 = datetime.datetime(2026, 12, 1, 10, 0, tzinfo=datetime.UTC)
LEASE = ("ops", "listing")


@pytest.mark.parametrize(
    "hint",
    [
        Hint(T0),
        Hint(T0, (T0 + datetime.timedelta(minutes=5),)),
        Hint(T0, tuple(T0 + datetime.timedelta(minutes=m) for m in (5, 10, 15))),
    ],
)
def test_a_hint_reads_back_as_written(hint: Hint) -> None:
    assert window_hints.decode(window_hints.encode(hint)) == hint


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[]",
        "{}",
        '{"createdAfter": 5}',
        '{"createdAfter": "yesterday"}',
        '{"createdAfter": "2026-12-01T10:00:00"}',  # no zone: not a time to list from
        '{"createdAfter": "2026-12-01T10:00:00+00:00", "splits": "later"}',
        '{"createdAfter": "2026-12-01T10:00:00+00:00", "splits": ["2026-12-01T10:00:00"]}',
    ],
)
def test_anything_else_in_the_lease_is_no_hint(text: str) -> None:
    assert window_hints.decode(text) is None


def test_the_lease_holds_a_hint_per_region_and_nothing_else_counts() -> None:
    annotations = {
        window_hints.KEY_PREFIX + "us-east-1": window_hints.encode(Hint(T0)),
        window_hints.KEY_PREFIX + "eu-west-1": "garbage",
        "kubectl.kubernetes.io/last-applied-configuration": "{}",
    }
    assert window_hints.parse(annotations) == {"us-east-1": Hint(T0)}


@pytest.mark.parametrize(("setting", "lease"), [("", None), ("ops/listing", ("ops", "listing"))])
def test_the_setting_names_the_lease(setting: str, lease: tuple[str, str] | None) -> None:
    assert window_hints.lease_of(setting) == lease


@dataclass
class LeaseRecorder:
    annotations: dict[str, str] = field(default_factory=dict)
    patches: list[dict[str, str | None]] = field(default_factory=list)
    fail: Exception | None = None

    async def lease_annotations(self, namespace: str, name: str) -> dict[str, str]:
        if self.fail is not None:
            raise self.fail
        return dict(self.annotations)

    async def annotate_lease(
        self, namespace: str, name: str, annotations: dict[str, str | None]
    ) -> None:
        if self.fail is not None:
            raise self.fail
        self.patches.append(annotations)


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def keeper(kube: LeaseRecorder, clock: Clock) -> HintKeeper:
    return HintKeeper(cast(Any, kube), LEASE, clock)


async def test_a_window_is_written_when_it_moved_and_not_more_often_than_the_interval() -> None:
    kube, clock = LeaseRecorder(), Clock()
    keeping = keeper(kube, clock)
    key = window_hints.KEY_PREFIX + "us-east-1"
    await keeping.keep("us-east-1", Hint(T0))
    await keeping.keep("us-east-1", Hint(T0))  # unchanged: no write
    assert kube.patches == [{key: window_hints.encode(Hint(T0))}]
    later = Hint(T0 + datetime.timedelta(minutes=1))
    await keeping.keep("us-east-1", later)  # moved, but just written: waits
    assert len(kube.patches) == 1
    clock.now += window_hints.WRITE_EVERY_SECONDS
    await keeping.keep("us-east-1", later)
    await keeping.keep("eu-west-1", Hint(T0))  # each Region on its own
    clock.now += window_hints.WRITE_EVERY_SECONDS
    await keeping.keep("us-east-1", None)  # no running job left: the hint is removed
    assert kube.patches[1:] == [
        {key: window_hints.encode(later)},
        {window_hints.KEY_PREFIX + "eu-west-1": window_hints.encode(Hint(T0))},
        {key: None},
    ]


async def test_what_was_read_at_start_is_not_written_again() -> None:
    kube, clock = (
        LeaseRecorder({window_hints.KEY_PREFIX + "us-east-1": window_hints.encode(Hint(T0))}),
        Clock(),
    )
    keeping = keeper(kube, clock)
    assert await keeping.read() == {"us-east-1": Hint(T0)}
    await keeping.keep("us-east-1", Hint(T0))
    assert kube.patches == []


@pytest.mark.parametrize("status", [403, 404, 500])
async def test_a_lease_that_cannot_be_read_or_written_costs_only_the_head_start(
    status: int,
) -> None:
    kube, clock = LeaseRecorder(fail=ApiException(status=status, reason="no")), Clock()
    keeping = keeper(kube, clock)
    assert await keeping.read() == {}
    await keeping.keep("us-east-1", Hint(T0))  # logged, not raised: the poller goes on
    kube.fail = None
    clock.now += window_hints.WRITE_EVERY_SECONDS
    await keeping.keep("us-east-1", Hint(T0))  # not written before: tried again
    assert kube.patches == [{window_hints.KEY_PREFIX + "us-east-1": window_hints.encode(Hint(T0))}]
