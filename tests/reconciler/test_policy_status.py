"""What a TrainingJobPolicy's status says (pure): namespaces selected, entries that never match."""

from __future__ import annotations

from typing import Any

from sagemaker_operator.controller import policies
from sagemaker_operator.resource import references

LABELS = [{"team": "a"}, {"team": "a", "tier": "gpu"}, {"team": "b"}]


def _status(spec: dict[str, Any], previous: dict[str, Any] | None = None) -> dict[str, Any]:
    obj = {"metadata": {"name": "p", "generation": 3}, "spec": spec, "status": previous or {}}
    return policies.status_of(obj, LABELS, references.sagemaker_regions())


def _valid(status: dict[str, Any]) -> tuple[str, str]:
    (condition,) = status["conditions"]
    assert condition["type"] == "Valid"
    assert condition["observedGeneration"] == 3
    return condition["status"], condition["reason"]


def test_a_valid_policy_counts_the_namespaces_it_selects() -> None:
    status = _status({"namespaceSelector": {"matchLabels": {"team": "a"}}})
    assert status["selectedNamespaces"] == 2
    assert status["problems"] == []
    assert _valid(status) == ("True", "Valid")


def test_entries_that_can_never_match_are_listed() -> None:
    status = _status({"namespaceSelector": {}, "regions": ["mars-1"], "allow": {"s3": ["x"]}})
    assert status["selectedNamespaces"] == 3
    assert len(status["problems"]) == 2
    assert _valid(status) == ("False", "Unmatchable")


def test_a_policy_that_does_not_parse_says_it_denies_everything() -> None:
    status = _status({"namespaceSelectr": {}})
    assert status["selectedNamespaces"] == 3  # it governs every namespace, admitting nothing
    assert "denies every job" in status["problems"][0]
    assert _valid(status) == ("False", "Unmatchable")
