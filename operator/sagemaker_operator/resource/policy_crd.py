"""The ``TrainingJobPolicy`` CustomResourceDefinition, generated from :mod:`policy`'s model.

pydantic's JSON Schema of the spec, made structural (Kubernetes' rules: references inlined,
no nulls), plus the one CEL rule a schema cannot say, and the status the operator writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sagemaker_operator import names
from sagemaker_operator.resource import customresource, described, policy

DESCRIPTION = (policy.__doc__ or "").split("\n\n")[0].replace("\n", " ")


def _structural(schema: Any, defs: Mapping[str, Any]) -> Any:
    """pydantic's JSON Schema as a Kubernetes structural schema: references inlined,
    ``Optional[X]`` as ``X``, no titles, no null defaults, no ``additionalProperties: false``."""
    if isinstance(schema, list):
        return [_structural(item, defs) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        target = defs[schema["$ref"].rsplit("/", 1)[-1]]
        return _structural({**target, **{k: v for k, v in schema.items() if k != "$ref"}}, defs)
    if "anyOf" in schema:
        (present,) = [option for option in schema["anyOf"] if option.get("type") != "null"]
        return _structural({**present, **{k: v for k, v in schema.items() if k != "anyOf"}}, defs)
    dropped = {"title", "$defs", "prefixItems"}
    out: dict[str, Any] = {
        key: (
            {name: _structural(item, defs) for name, item in value.items()}
            if key == "properties"
            else _structural(value, defs)
        )
        for key, value in schema.items()
        if key not in dropped
        and not (key == "default" and value is None)
        # NB: extra="forbid" says additionalProperties: false, which a structural schema
        # cannot carry beside properties; unknown members are refused by strict field
        # validation (kubectl's default) instead.
        and not (key == "additionalProperties" and value is False)
    }
    return out


def spec_schema() -> dict[str, Any]:
    raw = policy.PolicySpec.model_json_schema(by_alias=True)
    schema: dict[str, Any] = _structural(raw, raw.get("$defs", {}))
    # NB: "In"/"NotIn" need values and "Exists"/"DoesNotExist" must have none, as Kubernetes
    # itself says of label selectors; the schema alone cannot relate the two members.
    requirement = schema["properties"]["namespaceSelector"]["properties"]["matchExpressions"]
    requirement["items"]["x-kubernetes-validations"] = [
        {
            "rule": "(self.operator in ['In', 'NotIn']) == (has(self.values) && "
            "size(self.values) > 0)",
            "message": "values must be non-empty for In and NotIn, and absent for Exists "
            "and DoesNotExist",
        }
    ]
    return schema


def status_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "selectedNamespaces": {
                "type": "integer",
                "description": "How many namespaces the selector matches now.",
            },
            "problems": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Entries that can never match (the policy still applies: what "
                "they would allow stays denied).",
            },
            "observedGeneration": {"type": "integer", "format": "int64"},
            "conditions": described.conditions_schema(
                "Conditions in the Kubernetes API conventions' form. Valid: False while an entry "
                "can never match."
            ),
        },
    }


def crd() -> dict[str, Any]:
    """The TrainingJobPolicy CustomResourceDefinition (cluster-scoped)."""
    return customresource.definition(
        kind=names.POLICY_KIND,
        plural=names.POLICY_PLURAL,
        scope="Cluster",
        short_names=["smtjp"],
        description=DESCRIPTION,
        spec=spec_schema(),
        status=status_schema(),
        columns=[
            {"name": "Namespaces", "type": "integer", "jsonPath": ".status.selectedNamespaces"},
            {
                "name": "Valid",
                "type": "string",
                "jsonPath": '.status.conditions[?(@.type=="Valid")].status',
            },
            customresource.AGE,
        ],
    )
