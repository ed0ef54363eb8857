"""What SageMaker's description becomes in ``status``, and the status schema that keeps it.

The status is a selection of ``DescribeTrainingJob``'s members (``DESCRIBED``), named by the
one naming rule and converted by walking the output shape: timestamps become RFC 3339 strings
in UTC, everything else stays as JSON already has it. The operator adds its own fields beside
them (``OPERATOR_STATUS_FIELDS``): ``phase``, ``logsUrl``, ``region``, ``failureLogTail``,
``ownershipProof``, ``observedGeneration`` and ``conditions``.
"""

import base64
import datetime
import math
import typing
from collections.abc import Mapping
from typing import Any, Literal

from sagemaker_operator.resource import model, naming, schema

# The members of DescribeTrainingJob the status carries.
DESCRIBED: tuple[str, ...] = (
    "TrainingJobName",
    "TrainingJobArn",
    "TrainingJobStatus",
    "SecondaryStatus",
    "FailureReason",
    "SecondaryStatusTransitions",
    "ModelArtifacts",
    "FinalMetricDataList",
    "CreationTime",
    "TrainingStartTime",
    "TrainingEndTime",
    "LastModifiedTime",
    "TrainingTimeInSeconds",
    "BillableTimeInSeconds",
    "DebugRuleEvaluationStatuses",
    "ProfilerRuleEvaluationStatuses",
    "ProfilingStatus",
    "WarmPoolStatus",
)

# Characters of status.failureLogTail at most (controller/failure_logs.py keeps the last lines).
FAILURE_LOG_TAIL_MAX = 4096

# status.phase: one word for workflow engines (Argo's successCondition/failureCondition).
# NB: which phase a SageMaker status maps to is decided in ``conditions``.
Phase = Literal["Pending", "InProgress", "Stopping", "Completed", "Failed", "Stopped"]
PHASES: tuple[Phase, ...] = typing.get_args(Phase)
ConditionStatus = Literal["True", "False", "Unknown"]
CONDITION_STATUSES: tuple[ConditionStatus, ...] = typing.get_args(ConditionStatus)


def rfc3339(value: datetime.datetime) -> str:
    """A timestamp as Kubernetes writes them: UTC, ``Z`` suffix (a naive one is taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


def _from_response(shape: model.Shape, value: Any) -> Any:
    kind = shape.type_name
    if kind == "structure":
        return {
            naming.field_name(member): converted
            for member, item in value.items()
            if member in shape.members
            and (converted := _from_response(shape.members[member], item)) is not None
        }
    if kind == "list":
        return [_from_response(shape.member, item) for item in value]
    if kind == "map":
        return {key: _from_response(shape.value, item) for key, item in value.items()}
    if kind == "timestamp":
        return rfc3339(value) if isinstance(value, datetime.datetime) else str(value)
    if kind in ("float", "double"):
        # NB: JSON has no NaN or infinity; a metric that is not a number is left out.
        return float(value) if math.isfinite(value) else None
    if kind == "blob":
        return base64.b64encode(value).decode() if isinstance(value, bytes) else value
    return value


def status_from_description(description: Mapping[str, Any]) -> dict[str, Any]:
    """The ``DESCRIBED`` members of a ``describe_training_job`` response, as status fields.

    Members absent from the response are absent from the result; ``ResponseMetadata`` and
    members the status does not carry are dropped.
    """
    shape = model.describe_output()
    return {
        naming.field_name(member): converted
        for member in DESCRIBED
        if member in description
        and (converted := _from_response(shape.members[member], description[member])) is not None
    }


def as_spec(description: Mapping[str, Any]) -> dict[str, Any]:
    """A whole description in spec form (field names, JSON values): what the job was created
    with, so the tenancy guard can judge an existing job as it judges a manifest."""
    converted: dict[str, Any] = _from_response(model.describe_output(), description)
    return converted


def conditions_schema(description: str) -> schema.Schema:
    """A ``conditions`` list in the Kubernetes API conventions' form, keyed by type."""
    return {
        "type": "array",
        "description": description,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
        "items": {
            "type": "object",
            "required": ["type", "status"],
            "properties": {
                "type": {"type": "string", "maxLength": 316},
                "status": {"type": "string", "enum": list(CONDITION_STATUSES)},
                "reason": {"type": "string", "maxLength": 1024},
                "message": {"type": "string", "maxLength": 32768},
                "observedGeneration": {"type": "integer", "format": "int64", "minimum": 0},
                "lastTransitionTime": {"type": "string", "format": "date-time"},
            },
        },
    }


def _operator_fields() -> dict[str, schema.Schema]:
    return {
        "phase": {
            "type": "string",
            "enum": list(PHASES),
            "description": "One word for the whole state, operator-side refusals included: "
            "Pending (accepted, no SageMaker job yet), InProgress, Stopping, Completed, Failed "
            "(SageMaker's failure or the operator's refusal; the reason is in the Succeeded "
            "condition), Stopped. For workflow engines: successCondition status.phase == "
            "Completed, failureCondition status.phase in (Failed,Stopped).",
        },
        "logsUrl": {
            "type": "string",
            "description": "The CloudWatch console page of the job's log streams.",
        },
        "region": {
            "type": "string",
            "description": "The AWS Region the SageMaker job was created in.",
        },
        "failureLogTail": {
            "type": "string",
            "maxLength": FAILURE_LOG_TAIL_MAX,
            "description": "The last lines the failing host logged before the job failed "
            "(only with the operator's failureLogTail setting), credential-looking strings "
            "redacted. The whole log: `kubectl sagemaker logs NAME`.",
        },
        "ownershipProof": {
            "type": "string",
            "maxLength": 80,
            "description": "The operator's proof that the job named here carries this "
            "resource's uid tag (a keyed hash only the operator can make), so a restarted "
            "operator need not ask SageMaker again. Not secret; a copy proves nothing for "
            "another resource or another job.",
        },
        "observedGeneration": {
            "type": "integer",
            "format": "int64",
            "description": "The metadata.generation of the spec this status reflects.",
        },
        "conditions": conditions_schema(
            "Conditions in the Kubernetes API conventions' form. Succeeded: Unknown while the "
            "job runs, True once SageMaker reports Completed, False once it reports Failed or "
            "Stopped or the operator refuses the resource. Synced: False while the operator "
            "cannot reach, or is refused by, SageMaker."
        ),
    }


OPERATOR_STATUS_FIELDS: tuple[str, ...] = tuple(_operator_fields())


def status_schema(*, descriptions: bool = True) -> schema.Schema:
    """The status schema: the ``DESCRIBED`` members without constraints, plus the operator's."""
    walk = schema.Walk(strict=False, descriptions=descriptions)
    shape = model.describe_output()
    properties = {
        naming.field_name(member): walk.schema(
            shape.members[member], shape.members[member].documentation
        )
        for member in DESCRIBED
    }
    properties.update(_operator_fields())
    return {
        "type": "object",
        "description": "What SageMaker reports about the training job, and what the operator "
        "makes of it.",
        "properties": properties,
    }
