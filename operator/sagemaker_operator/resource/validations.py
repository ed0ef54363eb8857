"""CEL ``x-kubernetes-validations`` for the spec: what a schema alone cannot say.

Three kinds of rule, each refused at ``kubectl apply`` with a message naming the field:

- **Immutability**, derived from the model: a member of ``CreateTrainingJob`` that
  ``UpdateTrainingJob`` does not accept cannot change, appear or disappear after creation;
  one it accepts may change but not disappear (``UpdateTrainingJob`` has no way to unset it).
  What may change is decided in ``mutability``, which ``request.update_request`` reads too,
  so admission and the operator agree.
- **Credential-looking values** in ``hyperParameters`` and ``environment``, refused with
  SageMaker's own warning quoted from the model's documentation of those members.
- **Cross-field rules** that SageMaker documents in prose (each quotes its source below).

Cost: each rule's estimated cost is bounded by the ``maxProperties``/``maxLength`` the model
puts on the maps and strings it reads (100 hyper-parameters of at most 2,500 characters), and
the API server checks the estimate when the CRD is applied; a test applies it.
"""

import re
from collections.abc import Callable, Iterator
from typing import Any

from sagemaker_operator.names import GROUP
from sagemaker_operator.resource import model, mutability, naming, text

Schema = dict[str, Any]
Rule = dict[str, str]

# Values that are credentials, not parameters: (what it looks like, RE2 pattern for CEL).
# NB: the secret-key test is on the whole value (40 base64 characters mixing upper, lower
# and digits) so that a 40-character hex digest such as a git commit is not refused.
CREDENTIAL_PATTERNS: tuple[tuple[str, str], ...] = (
    ("an AWS access key id", r"(^|[^A-Z0-9])(AKIA|ASIA)[A-Z0-9]{16}([^A-Z0-9]|$)"),
    ("a private key", r"-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----"),
    ("a bearer token", r"(?i)(^|[^a-z])bearer\s+[A-Za-z0-9._~+/-]{16,}=*"),
)
SECRET_KEY_RULE = (
    "an AWS secret access key",
    "self.matches(r'^[A-Za-z0-9/+]{40}$') && self.matches(r'[A-Z]') && "
    "self.matches(r'[a-z]') && self.matches(r'[0-9]')",
)
# Environment variable names that carry AWS credentials whatever their value.
CREDENTIAL_VARIABLES = r"^(AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN|AWS_ACCESS_KEY_ID)$"
CREDENTIAL_MEMBERS = ("HyperParameters", "Environment")

SECONDS_IN_A_DAY = 86_400  # "The default value is 1 day." (StoppingCondition.MaxRuntimeInSeconds)


def warning_for(member: str) -> str:
    """SageMaker's own warning against secrets in ``member``, quoted from the model."""
    documentation = text.plain(model.create_input().members[member].documentation)
    found = re.search(r"Do not include any security-sensitive information[^.]*\.", documentation)
    if found:
        return found.group(0)
    # NB: only reached if AWS rewrites the sentence; the test of the warning then fails.
    return f"Do not include any security-sensitive information in {member}."


def _cel_string(value: str) -> str:
    assert "'" not in value, value
    return f"r'{value}'"


def credential_rules(member: str) -> list[Rule]:
    """Rules for one value of the ``member`` map (the rule's ``self`` is the value)."""
    quote = warning_for(member)
    rules: list[Rule] = []
    checks = [(kind, f"!self.matches({_cel_string(p)})") for kind, p in CREDENTIAL_PATTERNS]
    checks.append((SECRET_KEY_RULE[0], f"!({SECRET_KEY_RULE[1]})"))
    for kind, rule in checks:
        rules.append(
            {
                "rule": rule,
                "message": f'looks like {kind}; SageMaker\'s documentation says: "{quote}" '
                "Give the training code its secrets another way (for example AWS Secrets "
                "Manager, read with the job's role).",
            }
        )
    return rules


def _field(member: str) -> str:
    return naming.field_name(member)


def _immutability(
    create: model.Shape, update_of: Callable[[str], model.Shape | None]
) -> Iterator[Rule]:
    """Rules on a structure (``self``) for its members; ``update_of`` says what may change."""
    accepted = ", ".join(sorted(mutability.updatable_paths()))
    for member in create.members:
        field = _field(member)
        if member == mutability.JOB_NAME_MEMBER:
            continue  # named by the operator, checked with the operator fields
        required = member in create.required_members
        sub_update = update_of(member)
        if sub_update is None:
            same = f"self.{field} == oldSelf.{field}"
            rule = (
                same
                if required
                else f"has(self.{field}) == has(oldSelf.{field}) && (!has(self.{field}) || {same})"
            )
            yield {
                "rule": rule,
                "fieldPath": f".{field}",
                "reason": "FieldValueForbidden",
                "message": f"{field} cannot change after the training job is created: "
                f"UpdateTrainingJob does not accept it ({accepted}); delete and recreate the "
                "resource to change it",
            }
            continue
        partial = mutability.is_partial(create.members[member], sub_update)
        if not required:
            presence = (
                f"has(self.{field}) == has(oldSelf.{field})"
                if partial
                else f"!has(oldSelf.{field}) || has(self.{field})"
            )
            yield {
                "rule": presence,
                "fieldPath": f".{field}",
                "reason": "FieldValueForbidden",
                "message": (
                    f"{field} cannot be added or removed after the training job is created"
                    if partial
                    else f"{field} can change after creation but not be removed: "
                    "UpdateTrainingJob has no way to unset it"
                ),
            }


def _operator_field_rules() -> Iterator[Rule]:
    for field in mutability.FIXED_FIELDS:
        yield {
            "rule": f"has(self.{field}) == has(oldSelf.{field}) && "
            f"(!has(self.{field}) || self.{field} == oldSelf.{field})",
            "fieldPath": f".{field}",
            "reason": "FieldValueForbidden",
            "message": f"{field} cannot change after the resource is created",
        }


def _add(schema: Schema, rules: list[Rule] | Iterator[Rule]) -> None:
    schema.setdefault("x-kubernetes-validations", []).extend(rules)


def add_rules(spec: Schema) -> None:
    """Attach every CEL rule to the generated spec schema (in place)."""
    props = spec["properties"]
    # Immutability: on spec, then inside the structures UpdateTrainingJob takes in part.
    _add(spec, _immutability(model.create_input(), mutability.update_shape_of))
    _add(spec, _operator_field_rules())
    for sub_create, sub_update, field in mutability.partly_updatable():
        _add(props[field], _immutability(sub_create, sub_update.members.get))

    # Credentials.
    for member in CREDENTIAL_MEMBERS:
        _add(props[_field(member)]["additionalProperties"], credential_rules(member))
    _add(
        props[_field("Environment")],
        [
            {
                "rule": f"!self.exists(k, k.matches({_cel_string(CREDENTIAL_VARIABLES)}))",
                "message": "AWS credentials do not belong in environment; SageMaker's "
                f'documentation says: "{warning_for("Environment")}" The job runs with '
                "the credentials of roleArn.",
            }
        ],
    )

    # Cross-field rules SageMaker documents in prose.
    _add(
        props["algorithmSpecification"],
        [
            {
                # "You must specify either the algorithm name to the AlgorithmName parameter
                # or the image URI of the algorithm container to the TrainingImage parameter.
                # [...] the AlgorithmName parameter is mutually exclusive with the
                # TrainingImage parameter." (AlgorithmSpecification.AlgorithmName)
                "rule": "has(self.algorithmName) != has(self.trainingImage)",
                "message": "set exactly one of algorithmName and trainingImage: SageMaker "
                "says they are mutually exclusive and one is required",
            }
        ],
    )
    _add(
        spec,
        [
            {
                # "The maximum length of time, in seconds, that a managed Spot training job
                # has to complete." (StoppingCondition.MaxWaitTimeInSeconds)
                "rule": "!has(self.stoppingCondition) || "
                "!has(self.stoppingCondition.maxWaitTimeInSeconds) || "
                "(has(self.enableManagedSpotTraining) && self.enableManagedSpotTraining)",
                "fieldPath": ".stoppingCondition.maxWaitTimeInSeconds",
                "message": "maxWaitTimeInSeconds applies to managed Spot training only: set "
                "enableManagedSpotTraining: true or remove it",
            }
        ],
    )
    _add(
        props["stoppingCondition"],
        [
            {
                # "It must be equal to or greater than MaxRuntimeInSeconds."
                # (MaxWaitTimeInSeconds); "The default value is 1 day." (MaxRuntimeInSeconds)
                "rule": "!has(self.maxWaitTimeInSeconds) || self.maxWaitTimeInSeconds >= "
                f"(has(self.maxRuntimeInSeconds) ? self.maxRuntimeInSeconds : {SECONDS_IN_A_DAY})",
                "fieldPath": ".maxWaitTimeInSeconds",
                "message": "maxWaitTimeInSeconds must be equal to or greater than "
                "maxRuntimeInSeconds (which defaults to 1 day, 86400 seconds)",
            },
            {
                # "The maximum value is 28 days." (MaxRuntimeInSeconds)
                "rule": "!has(self.maxRuntimeInSeconds) || "
                f"self.maxRuntimeInSeconds <= {28 * SECONDS_IN_A_DAY}",
                "fieldPath": ".maxRuntimeInSeconds",
                "message": "maxRuntimeInSeconds can be at most 28 days (2419200 seconds)",
            },
        ],
    )
    _add(
        props["inputDataConfig"],
        [
            {
                # "Each channel is a named input source." (InputDataConfig)
                "rule": "self.all(c, self.exists_one(d, d.channelName == c.channelName))",
                "message": "channelName must be unique within inputDataConfig",
            }
        ],
    )
    _add(
        props["tags"],
        [
            {
                "rule": f"self.all(t, !t.key.startsWith('{GROUP}/'))",
                "message": f"tag keys starting with {GROUP}/ are reserved: the operator "
                "puts its provenance tags there",
            }
        ],
    )
