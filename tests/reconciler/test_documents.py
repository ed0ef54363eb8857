"""The status documents and the tenancy guard the decisions are made of (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from sagemaker_operator.controller import tenancy
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


def test_a_tenancy_entry_that_is_not_a_mapping_is_an_error() -> None:
    with pytest.raises(ValueError, match="not a mapping"):
        tenancy.allowance_for("ns", {"ns": "- a list"}, None)


def test_tenancy_lists_may_be_comma_separated_strings() -> None:
    allowance = tenancy.allowance_for("ns", {"ns": "roleArns: 'a, b'\ns3Prefixes: s3://x/"}, None)
    assert allowance == tenancy.Allowance(("a", "b"), ("s3://x/",))


def test_s3_uris_are_found_in_lists_and_maps_and_nothing_else() -> None:
    spec = {"a": ["s3://one/", {"b": "s3://two/"}, 3, None], "c": "https://x", "d": True}
    assert list(tenancy.s3_uris(spec)) == ["s3://one/", "s3://two/"]
