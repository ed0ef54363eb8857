"""spec -> the ``CreateTrainingJob`` request, and a spec change -> ``UpdateTrainingJob``.

The spec is JSON as the API server stored it; the request is what boto3 takes. The walk goes
down botocore's input shape: field names are turned back into member names through the
shape's own members (``naming.member_for``), and values into the types the model asks for
(``int`` for integer and long, ``bool``, ``float``, ``datetime`` for timestamps, ``bytes`` for
blobs). Nothing is written per field.

Errors::

    ValueError
     └── MappingError            the spec does not fit the model (a bug or a stale CRD)
          └── ImmutableFieldChanged  a change UpdateTrainingJob cannot make
"""

import base64
import datetime
from collections.abc import Mapping
from typing import Any

from sagemaker_operator.resource import model, mutability, naming, spec

_MISSING = object()


class MappingError(ValueError):
    """The spec does not fit botocore's model at ``path``."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"spec.{path}: {problem}")
        self.path = path


class ImmutableFieldChanged(MappingError):  # noqa: N818 - the name says what happened
    """A change to fields that ``UpdateTrainingJob`` cannot make (``fields``: spec paths)."""

    def __init__(self, fields: list[str]) -> None:
        self.fields = tuple(fields)
        super().__init__(
            ", ".join(self.fields),
            "cannot change after the training job is created (UpdateTrainingJob does not take "
            "it, or cannot unset it)",
        )


def to_request(shape: model.Shape, value: Any, path: str = "") -> Any:
    """``value`` (JSON, lowerCamelCase) as the botocore ``shape`` wants it."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, Mapping):
            raise MappingError(path, f"expected an object, got {type(value).__name__}")
        out: dict[str, Any] = {}
        for field, item in value.items():
            try:
                member = naming.member_for(shape, field)
            except KeyError:
                raise MappingError(
                    f"{path}.{field}".lstrip("."), f"not a member of {shape.name}"
                ) from None
            out[member] = to_request(shape.members[member], item, f"{path}.{field}".lstrip("."))
        return out
    if kind == "list":
        if not isinstance(value, list):
            raise MappingError(path, f"expected a list, got {type(value).__name__}")
        return [to_request(shape.member, item, f"{path}[{i}]") for i, item in enumerate(value)]
    if kind == "map":
        if not isinstance(value, Mapping):
            raise MappingError(path, f"expected an object, got {type(value).__name__}")
        return {str(k): to_request(shape.value, v, f"{path}.{k}") for k, v in value.items()}
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise MappingError(path, f"expected an integer, got {value!r}")
        return int(value)
    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise MappingError(path, f"expected a number, got {value!r}")
        return float(value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise MappingError(path, f"expected true or false, got {value!r}")
        return value
    if kind == "timestamp":
        if isinstance(value, datetime.datetime):
            return value
        return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if kind == "blob":
        return base64.b64decode(value) if isinstance(value, str) else value
    if not isinstance(value, str):
        raise MappingError(path, f"expected a string, got {value!r}")
    return value


def create_request(
    spec_: Mapping[str, Any], *, job_name: str, tags: Mapping[str, str]
) -> dict[str, Any]:
    """boto3 keyword arguments for ``create_training_job``.

    The operator's own fields are dropped, ``TrainingJobName`` is ``job_name`` (the name the
    operator settled on, which is ``spec.trainingJobName`` when given), and the provenance
    ``tags`` follow the user's ``Tags`` (a user tag with a provenance key is replaced).
    """
    body = {k: v for k, v in spec_.items() if k not in spec.OPERATOR_ONLY_FIELDS}
    body[naming.field_name("TrainingJobName")] = job_name
    request: dict[str, Any] = to_request(model.create_input(), body)
    user_tags = [t for t in request.get("Tags", []) if t.get("Key") not in tags]
    merged = user_tags + [{"Key": key, "Value": value} for key, value in tags.items()]
    if merged:
        request["Tags"] = merged
    return request


def _changes(
    create: model.Shape, update: model.Shape | None, old: Any, new: Any, path: str
) -> list[str]:
    """Paths of changes UpdateTrainingJob cannot make, walking both shapes together."""
    if old == new:
        return []
    if update is None or new is _MISSING:
        return [path]  # not updatable at all, or an unset UpdateTrainingJob cannot express
    if not mutability.is_partial(create, update):
        return []
    if old is _MISSING:
        return [path]  # a structure only partly updatable cannot appear after creation
    changed: list[str] = []
    for field in {*old, *new}:
        member = naming.member_for(create, field)
        changed += _changes(
            create.members[member],
            update.members.get(member),
            old.get(field, _MISSING),
            new.get(field, _MISSING),
            f"{path}.{field}",
        )
    return changed


def _project(update: model.Shape, value: Any) -> Any:
    """``value`` limited to the members the update shape has (``ResourceConfigForUpdate``)."""
    if update.type_name != "structure":
        return value
    fields = naming.members_by_field(update)
    return {k: _project(update.members[fields[k]], v) for k, v in value.items() if k in fields}


def update_request(
    old_spec: Mapping[str, Any], new_spec: Mapping[str, Any], *, job_name: str
) -> dict[str, Any] | None:
    """boto3 keyword arguments for ``update_training_job``, or None if nothing it takes changed.

    Raises ``ImmutableFieldChanged`` naming every changed field UpdateTrainingJob cannot
    change (the CRD's CEL rules refuse the same changes at admission; both read
    ``mutability``).
    """
    create = model.create_input()
    immutable: list[str] = []
    changed: dict[str, Any] = {}
    for field in sorted({*old_spec, *new_spec} - set(mutability.FREE_FIELDS)):
        old, new = old_spec.get(field, _MISSING), new_spec.get(field, _MISSING)
        if old == new:
            continue
        if field in mutability.FIXED_FIELDS:
            immutable.append(field)
            continue
        try:
            member = naming.member_for(create, field)
        except KeyError:
            raise MappingError(field, f"not a member of {create.name}") from None
        sub_update = mutability.update_shape_of(member)
        problems = _changes(create.members[member], sub_update, old, new, field)
        if problems:
            immutable += problems
        elif sub_update is not None:
            changed[field] = _project(sub_update, new)
    if immutable:
        raise ImmutableFieldChanged(sorted(immutable))
    if not changed:
        return None
    changed[naming.field_name("TrainingJobName")] = job_name
    result: dict[str, Any] = to_request(model.update_input(), changed)
    return result
