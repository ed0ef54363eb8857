"""The operator's own fields beside the ``CreateTrainingJob`` request in ``spec``.

``spec`` is the request, member for member, plus two fields SageMaker does not have:
``region`` and ``deletionPolicy``. ``trainingJobName`` is SageMaker's own member, made
optional: the operator derives a name when it is absent. ``OperatorFields`` reads these three
from a spec; its constants are also what the CRD's schema for them is built from.
"""

import enum
from collections.abc import Mapping
from typing import Any

import pydantic
from pydantic import alias_generators

REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-[0-9]+$"


class DeletionPolicy(enum.StrEnum):
    """What deleting the resource does to a SageMaker job that is still running."""

    STOP = "Stop"
    RETAIN = "Retain"


REGION_DESCRIPTION = (
    "The AWS Region to run the training job in, such as us-east-1. When absent, the "
    "operator's default Region is used. It cannot change after creation."
)
DELETION_POLICY_DESCRIPTION = (
    "What deleting this resource does to a SageMaker training job that is still running: "
    "Stop (the default) calls StopTrainingJob and waits until SageMaker reports the job "
    "stopped before the resource goes away; Retain leaves the job running."
)
TRAINING_JOB_NAME_NOTE = (
    "Optional here: when absent, the operator derives a stable name from the resource's name "
    "and uid. It cannot change after creation."
)


class OperatorFields(pydantic.BaseModel):
    """The fields of ``spec`` the operator reads for itself (extra members are ignored)."""

    model_config = pydantic.ConfigDict(
        frozen=True,
        extra="ignore",
        alias_generator=alias_generators.to_camel,
        populate_by_name=True,
    )

    region: str | None = pydantic.Field(default=None, pattern=REGION_PATTERN)
    deletion_policy: DeletionPolicy = DeletionPolicy.STOP
    training_job_name: str | None = None

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> "OperatorFields":
        return cls.model_validate(dict(spec))


# Fields of spec that are not members of the CreateTrainingJob request.
OPERATOR_ONLY_FIELDS: tuple[str, ...] = tuple(
    field.alias or name
    for name, field in OperatorFields.model_fields.items()
    if name != "training_job_name"
)


def operator_only_schemas() -> dict[str, dict[str, Any]]:
    """Schemas of the operator-only fields (``region``, ``deletionPolicy``)."""
    return {
        "region": {"type": "string", "pattern": REGION_PATTERN, "description": REGION_DESCRIPTION},
        "deletionPolicy": {
            "type": "string",
            "enum": [policy.value for policy in DeletionPolicy],
            "default": DeletionPolicy.STOP.value,
            "description": DELETION_POLICY_DESCRIPTION,
        },
    }
