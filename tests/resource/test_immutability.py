"""The immutable-fields admission policy, as generated: what it matches and what it names.

Its behaviour against a real API server is in tests/api/test_admission.py.
"""

from sagemaker_operator import names
from sagemaker_operator.resource import crd, immutability, model, mutability, naming


def _messages() -> list[str]:
    return [v["message"] for v in immutability.validations()]


def test_it_matches_spec_edits_never_status_writes() -> None:
    spec = immutability.policy()["spec"]
    (rule,) = spec["matchConstraints"]["resourceRules"]
    assert rule["resources"] == [names.PLURAL]  # not trainingjobs/status
    assert rule["operations"] == ["UPDATE"]
    (condition,) = spec["matchConditions"]
    assert "object.spec != oldObject.spec" in condition["expression"]
    binding = immutability.binding()["spec"]
    assert binding == {"policyName": immutability.POLICY_NAME, "validationActions": ["Deny"]}


def test_every_member_update_training_job_cannot_change_is_named() -> None:
    messages = _messages()
    create = model.create_input()
    for member in create.members:
        field = naming.field_name(member)
        fixed = mutability.update_shape_of(member) is None
        named = [m for m in messages if m.startswith(f"spec.{field} cannot change")]
        assert bool(named) == fixed, field


def test_the_operators_fields_are_fixed() -> None:
    messages = _messages()
    for field in mutability.FIXED_FIELDS:
        assert f"spec.{field} cannot change after the resource is created" in messages


def test_inside_a_structure_updated_in_part_the_rest_is_fixed_when_both_have_it() -> None:
    partial = {field: update for _, update, field in mutability.partly_updatable()}
    assert "resourceConfig" in partial
    by_message = {v["message"].split(" ")[0]: v["expression"] for v in immutability.validations()}
    instance_type = by_message["spec.resourceConfig.instanceType"]
    assert instance_type.startswith(
        "!has(variables.spec.resourceConfig) || !has(variables.oldSpec.resourceConfig) || "
    )
    # What UpdateTrainingJob takes inside it may change: no refusal names it as fixed.
    for member in partial["resourceConfig"].members:
        path = f"spec.resourceConfig.{naming.field_name(member)}"
        assert not any(m.startswith(f"{path} cannot change") for m in _messages()), path


def test_the_crd_keeps_no_rule_that_reads_the_old_object() -> None:
    assert "oldSelf" not in crd.render()
