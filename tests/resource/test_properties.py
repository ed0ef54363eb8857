"""Property tests: specs generated from the CRD's own schema map to requests botocore accepts,
and every Describe member the status claims survives the trip to status and back."""

import datetime
from typing import Any

from botocore import validate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sagemaker_operator.resource import crd, described, model, request

# Small sizes keep examples fast; the bounds themselves are the schema's.
_MAX_ITEMS = 2
_MAX_TEXT = 12


def _string(node: dict[str, Any]) -> st.SearchStrategy[str]:
    if "enum" in node:
        return st.sampled_from(node["enum"])
    low = node.get("minLength", 0)
    high = min(node.get("maxLength", _MAX_TEXT), max(low, _MAX_TEXT))
    # NB: patterns are the API server's to check (botocore's validator ignores them), so the
    # strategy draws from an alphabet every kept pattern's character classes accept.
    return st.text(alphabet="abc123", min_size=low, max_size=high)


def from_schema(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid for an OpenAPI schema node (CEL rules aside)."""
    kind = node.get("type")
    if "properties" in node:
        required = set(node.get("required", []))
        return st.fixed_dictionaries(
            {k: from_schema(v) for k, v in node["properties"].items() if k in required},
            optional={
                k: from_schema(v) for k, v in node["properties"].items() if k not in required
            },
        )
    if kind == "object":
        low = node.get("minProperties", 0)
        return st.dictionaries(
            st.text(alphabet="xyz_", min_size=1, max_size=8),
            from_schema(node["additionalProperties"]),
            min_size=low,
            max_size=min(node.get("maxProperties", _MAX_ITEMS), max(low, _MAX_ITEMS)),
        )
    if kind == "array":
        low = node.get("minItems", 0)
        return st.lists(
            from_schema(node["items"]),
            min_size=low,
            max_size=min(node.get("maxItems", _MAX_ITEMS), max(low, _MAX_ITEMS)),
        )
    if kind == "integer":
        return st.integers(node.get("minimum", -(2**31)), node.get("maximum", 2**31 - 1))
    if kind == "number":
        return st.floats(node.get("minimum"), node.get("maximum"), allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    assert kind == "string", node
    if node.get("format") == "date-time":
        return st.datetimes(timezones=st.just(datetime.UTC)).map(described.rfc3339)
    return _string(node)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=from_schema(crd.spec_schema()))
def test_any_spec_the_schema_admits_maps_to_a_request_botocore_accepts(
    spec: dict[str, Any],
) -> None:
    params = request.create_request(spec, job_name="job", tags={"k": "v"})
    validate.validate_parameters(params, model.create_input())
    assert params["Tags"][-1] == {"Key": "k", "Value": "v"}


def _from_shape(shape: model.Shape, depth: int = 0) -> st.SearchStrategy[Any]:
    """botocore-typed values for an output shape, as boto3 would return them."""
    kind = shape.type_name
    if kind == "structure":
        members = {m: _from_shape(s, depth + 1) for m, s in shape.members.items()}
        return st.fixed_dictionaries({}, optional=members)
    if kind == "list":
        return st.lists(_from_shape(shape.member, depth + 1), max_size=_MAX_ITEMS)
    if kind == "map":
        return st.dictionaries(st.text(max_size=5), _from_shape(shape.value), max_size=2)
    if kind in ("integer", "long"):
        return st.integers(0, 2**40)
    if kind in ("float", "double"):
        return st.floats(allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "timestamp":
        return st.datetimes(timezones=st.sampled_from([datetime.UTC, None]))
    assert kind == "string", kind
    return st.sampled_from(shape.enum) if shape.enum else st.text(max_size=_MAX_TEXT)


def _described() -> st.SearchStrategy[dict[str, Any]]:
    shape = model.describe_output()
    return st.fixed_dictionaries(
        {}, optional={m: _from_shape(shape.members[m]) for m in described.DESCRIBED}
    )


def _utc(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _utc(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_utc(v) for v in value]
    if isinstance(value, datetime.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=datetime.UTC)
    return value


@settings(max_examples=150, deadline=None)
@given(description=_described())
def test_status_round_trips_every_member_it_claims(description: dict[str, Any]) -> None:
    result = described.status_from_description({**description, "ResponseMetadata": {}})
    back = request.to_request(model.describe_output(), result)
    assert back == _utc(description)
