import pytest

from sagemaker_operator.resource import described, model, naming, spec
from tests.resource import shapes


@pytest.mark.parametrize(
    ("member", "field"),
    [
        ("RoleArn", "roleArn"),
        ("S3Uri", "s3Uri"),
        ("VpcConfig", "vpcConfig"),
        ("HyperParameters", "hyperParameters"),
        ("VolumeSizeInGB", "volumeSizeInGB"),
        ("EnableSageMakerMetricsTimeSeries", "enableSageMakerMetricsTimeSeries"),
    ],
)
def test_the_rule(member: str, field: str) -> None:
    assert naming.field_name(member) == field


@pytest.mark.parametrize(
    "root", [model.create_input(), model.update_input(), model.describe_output()]
)
def test_every_member_round_trips_through_its_shape(root: model.Shape) -> None:
    count = 0
    for structure in shapes.structures(root):
        fields = [naming.field_name(m) for m in structure.members]
        assert len(set(fields)) == len(fields), structure.name
        for member in structure.members:
            field = naming.field_name(member)
            assert field[:1].islower() or field[:1].isdigit(), member
            assert naming.member_for(structure, field) == member
            count += 1
    assert count > 10


def test_create_request_has_about_150_members() -> None:
    total = sum(len(s.members) for s in shapes.structures(model.create_input()))
    assert total > 120


def test_inverse_is_looked_up_not_guessed() -> None:
    with pytest.raises(KeyError):
        naming.member_for(model.create_input(), "RoleArn")  # a member name is not a field
    with pytest.raises(KeyError):
        naming.member_for(model.create_input(), "region")


def test_operator_fields_do_not_collide_with_sagemaker_members() -> None:
    fields = set(naming.members_by_field(model.create_input()))
    assert set(spec.OPERATOR_ONLY_FIELDS) == {"region", "deletionPolicy"}
    assert not set(spec.OPERATOR_ONLY_FIELDS) & fields
    assert "trainingJobName" in fields  # SageMaker's own member, made optional
    assert set(spec.operator_only_schemas()) == set(spec.OPERATOR_ONLY_FIELDS)


def test_operator_status_fields_do_not_collide_with_described_members() -> None:
    members = {naming.field_name(m) for m in model.describe_output().members}
    assert not set(described.OPERATOR_STATUS_FIELDS) & members
    assert set(described.DESCRIBED) <= set(model.describe_output().members)


def test_operator_fields_model_reads_a_spec() -> None:
    fields = spec.OperatorFields.from_spec(
        {"region": "eu-west-1", "deletionPolicy": "Retain", "roleArn": "arn"}
    )
    assert fields.region == "eu-west-1"
    assert fields.deletion_policy is spec.DeletionPolicy.RETAIN
    assert spec.OperatorFields.from_spec({}).deletion_policy is spec.DeletionPolicy.STOP
