"""SageMaker's "Training Job State Change" events, as an EventBridge rule puts them on SQS.

SageMaker sends one to EventBridge whenever a training job's status changes; its ``detail``
carries the job's description as of the change (the members of ``DescribeTrainingJob``, with
``Tags`` as a map, and ``FailureReason`` when it failed), so a status can be written from it
with no Describe (AWS: *Events that Amazon SageMaker AI sends to Amazon EventBridge*;
docs/emulator.md has the shape and its sources). Timestamps in ``detail`` are epoch
milliseconds: the guide's training-job example writes them as text, its endpoint example as
numbers; both are read. The envelope's ``region`` says where the job lives.

:func:`parse` makes of a message body a :class:`Change` whose description has botocore's
types (timestamps as datetimes), walking the ``DescribeTrainingJob`` output shape, so the
rest of the operator cannot tell it from a Describe; anything else is None.
"""

from __future__ import annotations

import datetime
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import botocore.session
from botocore.model import Shape

SOURCE: Final = "aws.sagemaker"
DETAIL_TYPE: Final = "SageMaker Training Job State Change"


@dataclass(frozen=True)
class Change:
    region: str
    description: Mapping[str, Any]  # DescribeTrainingJob's members, botocore's types
    tags: Mapping[str, str]

    @property
    def job_name(self) -> str:
        return str(self.description["TrainingJobName"])

    @property
    def modified(self) -> datetime.datetime | None:
        value = self.description.get("LastModifiedTime")
        return value if isinstance(value, datetime.datetime) else None


@functools.cache
def _describe_output() -> Shape:
    model = botocore.session.get_session().get_service_model("sagemaker")
    shape = model.operation_model("DescribeTrainingJob").output_shape
    assert shape is not None
    return shape


def parse(body: str) -> Change | None:
    """The change a message announces; None for anything that is not a training job's."""
    try:
        event = json.loads(body)
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    detail, region = event.get("detail"), event.get("region")
    if event.get("source") != SOURCE or event.get("detail-type") != DETAIL_TYPE:
        return None
    if not isinstance(detail, dict) or not isinstance(region, str) or not region:
        return None
    try:
        description = _convert(_describe_output(), detail)
    except (TypeError, ValueError, OverflowError):
        return None
    if not isinstance(description.get("TrainingJobName"), str):
        return None
    if not isinstance(description.get("TrainingJobArn"), str):
        return None
    raw_tags = detail.get("Tags")
    tags = {str(k): str(v) for k, v in raw_tags.items()} if isinstance(raw_tags, dict) else {}
    return Change(region=region, description=description, tags=tags)


def _convert(shape: Shape, value: Any) -> Any:
    """``value`` with botocore's types where ``shape`` says timestamp; unknown members kept
    out (a description is what the model says it is)."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise TypeError(f"{shape.name}: not an object")
        members = shape.members  # type: ignore[attr-defined]
        return {
            name: _convert(members[name], item)
            for name, item in value.items()
            if name in members and item is not None
        }
    if kind == "list":
        if not isinstance(value, list):
            raise TypeError(f"{shape.name}: not a list")
        return [_convert(shape.member, item) for item in value]  # type: ignore[attr-defined]
    if kind == "map":
        if not isinstance(value, dict):
            raise TypeError(f"{shape.name}: not a map")
        return {k: _convert(shape.value, v) for k, v in value.items()}  # type: ignore[attr-defined]
    if kind == "timestamp":
        return _timestamp(value)
    return value


def _timestamp(value: Any) -> datetime.datetime:
    if isinstance(value, bool):
        raise TypeError("a timestamp, not a boolean")
    if isinstance(value, int | float):
        millis = float(value)
    elif isinstance(value, str):
        try:
            millis = float(value)
        except ValueError:
            # NB: an ISO 8601 string, should a producer write one; anything else raises.
            parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)
    else:
        raise TypeError("a timestamp is a number of milliseconds")
    return datetime.datetime.fromtimestamp(millis / 1000, tz=datetime.UTC)
