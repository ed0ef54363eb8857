"""The tenancy guard: whether a namespace's TrainingJob may run, under the policies selecting it.

Every ``TrainingJobPolicy`` whose ``namespaceSelector`` matches the namespace must admit the
job: its Region, each reference it names outside the cluster (derived from botocore's model
by :mod:`references`), and adoption of an existing job. A namespace no policy selects is
unrestricted unless the operator requires a policy (``require_policy``). Refusals happen
before any AWS call; the same check runs on create, on every update and on adoption.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sagemaker_operator.resource import policy, references


@dataclass(frozen=True)
class Governance:
    """What governs one namespace: the policies selecting it, and whether one is required."""

    policies: tuple[policy.Policy, ...] = ()
    require_policy: bool = False


@dataclass(frozen=True)
class Refusal:
    reason: str
    message: str


def governing(
    policies: Sequence[policy.Policy], labels: Mapping[str, str], *, require_policy: bool
) -> Governance:
    """The policies whose selector matches a namespace's labels."""
    selected = tuple(p for p in policies if p.spec.namespace_selector.matches(labels))
    return Governance(selected, require_policy)


def check(
    spec: Mapping[str, Any], region: str, governance: Governance, *, adopting: bool = False
) -> Refusal | None:
    """The first thing a policy refuses about a job (``spec`` or an adopted job's), or None."""
    if not governance.policies:
        if adopting:
            return Refusal(
                "AdoptionNotAllowed",
                "adopting an existing job needs a TrainingJobPolicy that selects this namespace "
                "and allows adoption",
            )
        if governance.require_policy:
            return Refusal(
                "NoPolicy",
                "no TrainingJobPolicy selects this namespace, and the operator runs jobs only "
                "where one does (ask a cluster admin)",
            )
        return None
    found = references.references(spec)
    for rule in governance.policies:
        where = f"TrainingJobPolicy {rule.name}"
        if rule.spec.regions is not None and region not in rule.spec.regions:
            return Refusal(
                "RegionNotAllowed",
                f"region {region} is not allowed by {where} (regions: "
                f"{', '.join(rule.spec.regions) or 'none'})",
            )
        if adopting and not rule.spec.allow_adoption:
            return Refusal("AdoptionNotAllowed", f"{where} does not allow adopting existing jobs")
        for reference in filter(policy.needs_permission, found):
            allowed = rule.allowed(reference.kind)
            if not any(policy.permits(reference, pattern) for pattern in allowed):
                return Refusal(
                    "NotAllowedByPolicy",
                    f"spec.{reference.path}: {reference.value} is not allowed by {where} "
                    f"(allow.{reference.kind.value}: {', '.join(allowed) or 'none listed'})",
                )
    return None
