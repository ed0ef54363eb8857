"""The one naming rule between SageMaker member names and the resource's field names.

A SageMaker member (``RoleArn``, ``S3Uri``, ``VpcConfig``, ``VolumeSizeInGB``) becomes a
field by lower-casing its first character (``roleArn``, ``s3Uri``, ``vpcConfig``,
``volumeSizeInGB``); nothing else changes. Every member of the training-job shapes starts with
an upper-case letter or digit, so the rule is injective per structure; a unit test walks the
whole model to prove it.

The inverse is never computed from the field name by guessing the capitals: it is looked up in
the members of the botocore structure shape the field belongs to (``member_for``).
"""

import functools

from sagemaker_operator.resource import model


def field_name(member: str) -> str:
    """``RoleArn`` -> ``roleArn``: the lowerCamelCase name of a SageMaker member."""
    return member[:1].lower() + member[1:]


@functools.cache
def _fields_of(shape_name: str) -> dict[str, str]:
    shape = model.service_model().shape_for(shape_name)
    mapping: dict[str, str] = {}
    for member in shape.members:
        field = field_name(member)
        if field in mapping:  # pragma: no cover - the model would have to change
            raise ValueError(f"{shape_name}: {member} and {mapping[field]} share field {field}")
        mapping[field] = member
    return mapping


def members_by_field(shape: model.Shape) -> dict[str, str]:
    """field name -> member name for one botocore structure shape."""
    return _fields_of(shape.name)


def member_for(shape: model.Shape, field: str) -> str:
    """The member of ``shape`` whose field name is ``field`` (``KeyError`` if none)."""
    return _fields_of(shape.name)[field]
