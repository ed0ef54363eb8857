"""The status documents the decisions are made of (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from sagemaker_operator.resource import conditions


@pytest.mark.parametrize(
    ("previous", "expect"),
    [
        pytest.param(
            {},
            {"phase": "Pending", "Succeeded": ("Unknown", "Pending"), "Synced": ("False", "X")},
            id="a fault before any job: Pending, Succeeded Unknown",
        ),
        pytest.param(
            {"phase": "InProgress"},
            {"phase": None, "Succeeded": None, "Synced": ("False", "X")},
            id="a fault while the job runs: phase untouched",
        ),
    ],
)
def test_unsynced(previous: dict[str, Any], expect: dict[str, Any]) -> None:
    status = conditions.unsynced(previous, reason="X", message="slow", generation=3)
    got = {key: status.get(key) for key in ("phase",)}
    for condition in status["conditions"]:
        got[condition["type"]] = (condition["status"], condition["reason"])
    assert {key: got.get(key) for key in expect} == expect


def test_a_condition_without_a_generation_has_no_observed_generation() -> None:
    (condition,) = conditions.with_condition(None, "Synced", "True", "Synced", "ok", None)
    assert "observedGeneration" not in condition
    assert condition["status"] == "True"


@pytest.mark.parametrize(
    ("current", "new", "patch"),
    [
        ({"phase": "InProgress"}, {"phase": "InProgress"}, {}),
        ({"phase": "InProgress", "a": 1}, {"phase": "Completed", "a": 1}, {"phase": "Completed"}),
        ({}, {"region": "us-east-1"}, {"region": "us-east-1"}),
    ],
)
def test_changed_members_is_a_merge_patch_of_differences(
    current: dict[str, Any], new: dict[str, Any], patch: dict[str, Any]
) -> None:
    assert conditions.changed_members(current, new) == patch
