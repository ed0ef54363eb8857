"""The tenancy guard: every policy selecting a namespace must admit a job (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from sagemaker_operator.controller import tenancy
from sagemaker_operator.resource import policy, references
from tests.reconciler.table import REGION, SPEC, TEAM_A, governed

VPC = {"vpcConfig": {"subnets": ["subnet-a1"], "securityGroupIds": ["sg-a1"]}}


@pytest.mark.parametrize(
    ("spec", "governance", "reason"),
    [
        pytest.param(SPEC, tenancy.Governance(), None, id="no policy: unrestricted"),
        pytest.param(
            SPEC,
            tenancy.Governance((), require_policy=True),
            "NoPolicy",
            id="no policy, one required: refused",
        ),
        pytest.param(SPEC, governed(TEAM_A), None, id="everything named is allowed"),
        pytest.param(
            {**SPEC, "outputDataConfig": {"s3OutputPath": "https://team-b.s3.amazonaws.com/o/"}},
            governed(TEAM_A),
            "NotAllowedByPolicy",
            id="https virtual-hosted URL of another bucket",
        ),
        pytest.param(
            {**SPEC, "outputDataConfig": {"s3OutputPath": "https://s3.amazonaws.com/team-b/o/"}},
            governed(TEAM_A),
            "NotAllowedByPolicy",
            id="https path-style URL of another bucket",
        ),
        pytest.param(
            {**SPEC, "outputDataConfig": {"s3OutputPath": "https://team-a.s3.amazonaws.com/o/"}},
            governed(TEAM_A),
            None,
            id="https URL of an allowed bucket",
        ),
        pytest.param(
            {**SPEC, "outputDataConfig": {"s3OutputPath": "s3://team-a-evil/o/"}},
            governed(TEAM_A),
            "NotAllowedByPolicy",
            id="a bucket that only starts like an allowed one",
        ),
        pytest.param(
            {**SPEC, "outputDataConfig": {"s3OutputPath": "ftp://team-a/o/"}},
            governed(TEAM_A),
            "NotAllowedByPolicy",
            id="an S3 value that does not parse",
        ),
        pytest.param(
            {**SPEC, **VPC},
            governed(TEAM_A),
            "NotAllowedByPolicy",
            id="subnets not listed: deny by default",
        ),
        pytest.param(
            {**SPEC, **VPC},
            governed({**TEAM_A, "subnets": ("subnet-a*",), "securityGroups": ("sg-a*",)}),
            None,
            id="subnets and security groups listed",
        ),
        pytest.param(
            {**SPEC, "sessionChainingConfig": {"enableSessionTagChaining": True}},
            governed(TEAM_A),
            "NotAllowedByPolicy",
            id="a switch that widens credentials, not allowed",
        ),
        pytest.param(
            {**SPEC, "sessionChainingConfig": {"enableSessionTagChaining": False}},
            governed(TEAM_A),
            None,
            id="the same switch left off needs nothing",
        ),
        pytest.param(
            {**SPEC, "sessionChainingConfig": {"enableSessionTagChaining": True}},
            governed({**TEAM_A, "flags": ("sessionChainingConfig.*",)}),
            None,
            id="the switch allowed by its path",
        ),
        pytest.param(
            SPEC, governed(TEAM_A, regions=("eu-west-1",)), "RegionNotAllowed", id="region"
        ),
    ],
)
def test_check(spec: dict[str, Any], governance: tenancy.Governance, reason: str | None) -> None:
    refusal = tenancy.check(spec, REGION, governance)
    assert (refusal.reason if refusal else None) == reason
    if refusal is not None and reason == "NotAllowedByPolicy":
        assert "spec." in refusal.message
        assert "TrainingJobPolicy team-a" in refusal.message


def test_every_selecting_policy_must_admit() -> None:
    lenient, strict = governed(TEAM_A).policies[0], governed().policies[0]
    both = tenancy.Governance((lenient, strict))
    refusal = tenancy.check(SPEC, REGION, both)
    assert refusal is not None
    assert refusal.reason == "NotAllowedByPolicy"


@pytest.mark.parametrize(
    ("selector", "labels", "selected"),
    [
        ({}, {}, True),
        ({"matchLabels": {"team": "a"}}, {"team": "a", "x": "y"}, True),
        ({"matchLabels": {"team": "a"}}, {"team": "b"}, False),
        ({"matchExpressions": [{"key": "team", "operator": "In", "values": ["a"]}]}, {}, False),
        ({"matchExpressions": [{"key": "t", "operator": "NotIn", "values": ["a"]}]}, {}, True),
        ({"matchExpressions": [{"key": "t", "operator": "Exists"}]}, {"t": ""}, True),
        ({"matchExpressions": [{"key": "t", "operator": "DoesNotExist"}]}, {"t": ""}, False),
    ],
)
def test_namespace_selectors(
    selector: dict[str, Any], labels: dict[str, str], selected: bool
) -> None:
    found = policy.Policy.from_object(
        {"metadata": {"name": "p"}, "spec": {"namespaceSelector": selector}}
    )
    governance = tenancy.governing([found], labels, require_policy=False)
    assert (governance.policies == (found,)) is selected


def test_a_policy_that_does_not_parse_fails_closed() -> None:
    broken = policy.parse({"metadata": {"name": "old"}, "spec": {"namespaceSelectr": {}}})
    governance = tenancy.governing([broken], {"any": "labels"}, require_policy=False)
    refusal = tenancy.check(SPEC, REGION, governance)
    assert refusal is not None
    assert refusal.reason == "RegionNotAllowed"


def test_a_misspelled_member_is_refused_by_the_model() -> None:
    with pytest.raises(ValueError, match="rolearns"):
        policy.PolicySpec.model_validate({"namespaceSelector": {}, "allow": {"rolearns": ["*"]}})


def test_problems_name_what_can_never_match() -> None:
    found = policy.Policy.from_object(
        {
            "metadata": {"name": "p"},
            "spec": {
                "namespaceSelector": {},
                "regions": ["us-east-1", "mars-north-1"],
                "allow": {"s3": ["team-a/data"]},
            },
        }
    )
    assert policy.problems(found, references.sagemaker_regions()) == [
        "regions: mars-north-1 is not a Region SageMaker has",
        "allow.s3: team-a/data is not an s3://bucket/prefix",
    ]


def test_a_malformed_s3_entry_matches_nothing() -> None:
    (reference,) = [r for r in references.references(SPEC) if r.kind is references.Kind.S3]
    assert policy.permits(reference, "s3://team-a") is True
    assert policy.permits(reference, "team-a") is False
