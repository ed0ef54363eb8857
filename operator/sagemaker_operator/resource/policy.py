"""``TrainingJobPolicy``: what the TrainingJobs of the namespaces it selects may reach.

A cluster admin's resource (cluster-scoped; tenants can read it, never write it). Each policy
selects namespaces with a standard label selector and says, per kind of reference the model
has (:class:`references.Kind`: roles, S3 locations, KMS keys, images, subnets, ...), which
values jobs there may name. Deny by default: a kind the policy does not list may not be
named at all, so a member SageMaker adds later is refused until a policy speaks to it.
A resource must satisfy every policy that selects its namespace.

The pydantic model here is the one source: the operator parses policies with it and the
CRD's strict schema is generated from it (:mod:`policy_crd`), so a misspelled member is
refused by ``kubectl apply`` rather than ignored. The spec has room beside ``allow`` for the
platform features to come (defaults, quotas, clean-up).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any, Literal

import pydantic
from pydantic import alias_generators

from sagemaker_operator.resource import references

_CONFIG = pydantic.ConfigDict(
    frozen=True,
    extra="forbid",
    alias_generator=alias_generators.to_camel,
    populate_by_name=True,
)


class Requirement(pydantic.BaseModel):
    """One ``matchExpressions`` entry of a Kubernetes label selector."""

    model_config = _CONFIG
    key: str = pydantic.Field(min_length=1, max_length=317)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        match self.operator:
            case "In":
                return labels.get(self.key) in self.values
            case "NotIn":
                return labels.get(self.key) not in self.values
            case "Exists":
                return self.key in labels
            case "DoesNotExist":
                return self.key not in labels


class LabelSelector(pydantic.BaseModel):
    """A Kubernetes label selector; empty selects every namespace."""

    model_config = _CONFIG
    match_labels: dict[str, str] = pydantic.Field(default_factory=dict)
    match_expressions: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match_labels.items()) and all(
            requirement.matches(labels) for requirement in self.match_expressions
        )


def _describe(kind: references.Kind) -> str:
    """The members of CreateTrainingJob a kind covers, as botocore's model classifies them."""
    paths = sorted(
        references.dotted(p) for p, found in references.classify().items() if found is kind
    )
    if kind is references.Kind.FLAG:
        return f"Switches jobs may turn on, by field path (globs): {', '.join(paths)}."
    how = (
        "s3://bucket/prefix, matched on whole path segments"
        if kind is references.Kind.S3
        else "globs (* and ?)"
    )
    return f"Values jobs may give, as {how}, to: {', '.join(paths)}."


def _allow_model() -> type[pydantic.BaseModel]:
    """One optional list per kind of reference, named by the kind (derived, never typed)."""
    fields: dict[str, Any] = {
        kind.value: (
            tuple[str, ...] | None,
            pydantic.Field(None, description=_describe(kind)),
        )
        for kind in references.Kind
    }
    model: type[pydantic.BaseModel] = pydantic.create_model(
        "Allow",
        __config__=pydantic.ConfigDict(frozen=True, extra="forbid"),
        __doc__="What jobs may name, per kind of reference; a kind not listed may not be named.",
        **fields,
    )
    return model


Allow = _allow_model()


class PolicySpec(pydantic.BaseModel):
    """What the selected namespaces' TrainingJobs may do."""

    model_config = _CONFIG
    namespace_selector: LabelSelector = pydantic.Field(
        description="The namespaces this policy governs (a standard label selector; {} is all)."
    )
    regions: tuple[str, ...] | None = pydantic.Field(
        None,
        description="AWS Regions jobs may run in; absent: every Region SageMaker has.",
    )
    allow_adoption: bool = pydantic.Field(
        False,
        description="Whether a resource may adopt an existing job that no resource owns "
        "(annotation sagemaker-operator.io/adopt). The adopted job must pass this policy too.",
    )
    allow: Allow = pydantic.Field(  # type: ignore[valid-type]
        default_factory=Allow,
        description="Per kind of reference outside the cluster, the values jobs may name: "
        "globs for ARNs, names and IDs, s3://bucket/prefix on whole path segments for S3. "
        "A kind not listed may not be named at all.",
    )


class Policy(pydantic.BaseModel):
    """A parsed TrainingJobPolicy: its name and spec."""

    model_config = pydantic.ConfigDict(frozen=True)
    name: str
    spec: PolicySpec

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> Policy:
        return cls(name=str(obj["metadata"]["name"]), spec=PolicySpec.model_validate(obj["spec"]))

    def allowed(self, kind: references.Kind) -> tuple[str, ...]:
        found: tuple[str, ...] | None = getattr(self.spec.allow, kind.value)
        return found or ()


def parse(obj: Mapping[str, Any]) -> Policy:
    """A stored policy; one that does not parse (an older schema) fails closed: it selects
    every namespace and allows nothing, so it refuses every job until it is fixed."""
    try:
        return Policy.from_object(obj)
    except pydantic.ValidationError:
        return Policy(
            name=str(obj.get("metadata", {}).get("name", "?")),
            spec=PolicySpec(namespace_selector=LabelSelector(), regions=(), allow_adoption=False),
        )


def needs_permission(reference: references.Reference) -> bool:
    """A switch left off widens nothing; every other reference needs an allow entry."""
    return not (reference.kind is references.Kind.FLAG and reference.value == "false")


def permits(reference: references.Reference, pattern: str) -> bool:
    """Whether one allow-list entry admits a reference."""
    match reference.kind:
        case references.Kind.S3:
            location = references.parse_s3(reference.value)
            try:
                return location is not None and references.s3_within(location, pattern)
            except ValueError:  # a malformed entry matches nothing (and shows in status)
                return False
        case references.Kind.FLAG:  # switches are named by their field path
            return fnmatch.fnmatchcase(reference.path, pattern)
        case _:
            return fnmatch.fnmatchcase(reference.value, pattern)


def problems(policy: Policy, known_regions: frozenset[str]) -> list[str]:
    """What in a policy can never match (reported in its status; it fails closed)."""
    found = [
        f"regions: {region} is not a Region SageMaker has"
        for region in policy.spec.regions or ()
        if region not in known_regions
    ]
    for prefix in policy.allowed(references.Kind.S3):
        if references.parse_s3(prefix if prefix.endswith("/") else f"{prefix}/") is None:
            found.append(f"allow.s3: {prefix} is not an s3://bucket/prefix")
    return found
