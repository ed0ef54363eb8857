import json
import re
from typing import Any

import pytest

from sagemaker_operator.resource import crd, described, model, naming, patterns, schema, text


def _spec() -> dict[str, Any]:
    return crd.spec_schema()


def _walk_both(shape: model.Shape, node: dict[str, Any], path: str, out: list[str]) -> None:
    """Every member of ``shape`` appears in ``node`` with the matching JSON type."""
    expected = {
        "structure": "object",
        "map": "object",
        "list": "array",
        "string": "string",
        "timestamp": "string",
        "integer": "integer",
        "long": "integer",
        "boolean": "boolean",
        "float": "number",
        "double": "number",
    }[shape.type_name]
    assert node["type"] == expected, path
    out.append(path)
    if shape.type_name == "structure":
        for member, sub in shape.members.items():
            field = naming.field_name(member)
            _walk_both(sub, node["properties"][field], f"{path}.{field}", out)
    elif shape.type_name == "list":
        _walk_both(shape.member, node["items"], f"{path}[]", out)
    elif shape.type_name == "map":
        _walk_both(shape.value, node["additionalProperties"], f"{path}{{}}", out)


def test_every_create_member_is_in_the_spec_schema() -> None:
    seen: list[str] = []
    _walk_both(model.create_input(), _spec(), "spec", seen)
    assert len(seen) > 150


def test_describe_members_are_in_the_status_schema() -> None:
    status_schema = described.status_schema()
    for member in described.DESCRIBED:
        seen: list[str] = []
        field = naming.field_name(member)
        _walk_both(
            model.describe_output().members[member],
            status_schema["properties"][field],
            field,
            seen,
        )


def test_constraints_come_from_the_model() -> None:
    props = _spec()["properties"]
    assert props["hyperParameters"]["maxProperties"] == 100
    assert props["hyperParameters"]["additionalProperties"]["maxLength"] == 2500
    resource = props["resourceConfig"]["properties"]
    assert "ml.m5.large" in resource["instanceType"]["enum"]
    assert resource["instanceCount"]["minimum"] == 0
    assert resource["keepAlivePeriodInSeconds"]["maximum"] == 21600
    assert props["vpcConfig"]["required"] == ["securityGroupIds", "subnets"]
    assert props["vpcConfig"]["properties"]["subnets"]["maxItems"] == 16
    assert props["inputDataConfig"]["minItems"] == 1
    assert props["profilerConfig"]["properties"]["profilingIntervalInMilliseconds"] == {
        **props["profilerConfig"]["properties"]["profilingIntervalInMilliseconds"],
        "type": "integer",
        "format": "int64",
    }
    assert props["trainingJobName"]["pattern"] == "^(?:[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62})$"


def test_spec_requires_what_sagemaker_requires_except_the_job_name() -> None:
    required = set(_spec()["required"])
    assert required == {"roleArn", "outputDataConfig"}
    assert "TrainingJobName" in model.create_input().required_members


def test_shared_shapes_carry_the_documentation_of_each_use() -> None:
    props = _spec()["properties"]
    output = props["outputDataConfig"]["properties"]["s3OutputPath"]
    checkpoint = props["checkpointConfig"]["properties"]["s3Uri"]
    assert output["pattern"] == checkpoint["pattern"]  # both are the S3Uri shape
    assert output["description"] != checkpoint["description"]


def test_no_recursive_shape_in_create_training_job() -> None:
    assert crd.recursive_paths() == []


def test_recursion_is_cut_not_followed() -> None:
    # CreateTrainingJob has no shape that contains itself (the test above), so the cut is
    # exercised on one from the same botocore SageMaker model: Search's SearchExpression holds
    # a list of SearchExpressions. A real shape, not a synthetic one, so the walk looks its
    # fields up in the model as it does for the CRD, with nothing patched.
    search = model.service_model().shape_for("SearchExpression")
    walk = schema.Walk()
    out = walk.schema(search)
    assert set(out["properties"]) == {"filters", "nestedFilters", "subExpressions", "operator"}
    cut = out["properties"]["subExpressions"]["items"]
    assert cut["x-kubernetes-preserve-unknown-fields"] is True
    assert cut["type"] == "object"
    assert "properties" not in cut
    assert walk.recursive == ["subExpressions.[]"]


def test_dropped_patterns_are_exactly_those_re2_cannot_take() -> None:
    dropped = crd.dropped_patterns()
    assert set(dropped) == {
        "ArnOrName",
        "TrainingRepositoryCredentialsProviderArn",
        "ModelPackageGroupArn",
        "ModelPackageArn",
    }
    assert "look-around" in dropped["ArnOrName"][1]
    assert "Alnum" in dropped["TrainingRepositoryCredentialsProviderArn"][1]
    assert "1000" in dropped["ModelPackageArn"][1]


@pytest.mark.parametrize(
    ("pattern", "ok"),
    [
        ("(?<!-)", False),
        ("a(?=b)", False),
        ("[\\p{Alnum}]", False),
        ("a++", False),
        ("(a)\\1", False),
        ("[\\S]{1,2048}", False),
        ("a{2,1000}", True),
        ("([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)", True),
        ("[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", True),
    ],
)
def test_re2_filter(pattern: str, ok: bool) -> None:
    assert (patterns.unsupported(pattern) is None) is ok


def test_every_kept_pattern_is_anchored() -> None:
    found = re.findall(r'"pattern": "([^"]*)"', json.dumps(_spec()))
    assert len(found) > 10
    for pattern in found:
        assert pattern.startswith("^(?:") or pattern.startswith("^[a-z]{2}"), pattern
        assert pattern.endswith(")$") or pattern.endswith("$"), pattern


def test_status_schema_has_no_constraints_on_what_sagemaker_reports() -> None:
    reported = json.dumps(
        {
            k: v
            for k, v in described.status_schema()["properties"].items()
            if k not in described.OPERATOR_STATUS_FIELDS
        }
    )
    for keyword in ('"enum"', '"pattern"', '"maxLength"', '"required"', '"minimum"'):
        assert keyword not in reported


def test_descriptions_are_plain_text() -> None:
    rendered = json.dumps(crd.build_crd())
    assert "<p>" not in rendered
    assert "<code>" not in rendered
    resource = _spec()["properties"]["resourceConfig"]["description"]
    assert resource.startswith("The resources, including the ML compute instances")


def test_html_to_text() -> None:
    assert (
        text.plain("<p>One <code>Two</code>.</p> <ul><li><p>a</p></li><li>b</li></ul>")
        == "One Two.\n\n- a\n- b"
    )
    assert text.plain("<important><p>Careful &amp; slow.</p></important>") == (
        "Important: Careful & slow."
    )
    assert text.plain(None) == ""
